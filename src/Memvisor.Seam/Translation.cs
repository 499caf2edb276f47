namespace Memvisor.Seam;

public enum TranslateStatus : byte
{
    /// <summary>Translated: <see cref="Translation.Gfn"/> is the page.</summary>
    Ok,
    /// <summary>A page fault for the guest's handler: the guest entry at (Table, Index, Level) is not present, or not writable for a write.</summary>
    PageFault,
}

/// <summary>
/// The result of a vCPU translating a virtual page: the guest frame it maps to, or the guest entry that stopped the
/// walk. Table is a gfn (the guest's own view, also under PV where the hardware entry holds an mfn).
/// </summary>
public readonly record struct Translation(TranslateStatus Status, ulong Gfn, bool Writable, ulong Entry, ulong Table, int Index, int Level)
{
    public static Translation Fault(ulong entry, ulong table, int index, int level) => new(TranslateStatus.PageFault, 0, false, entry, table, index, level);
}
