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
public readonly record struct Translation(TranslateStatus Status, Gfn Gfn, bool Writable, ulong Entry, Gfn Table, int Index, int Level)
{
    /// <summary>The page translated: the walk (or the TLB) found <paramref name="gfn"/> through the entry at (table, index, level).</summary>
    public static Translation Ok(ulong gfn, bool writable, ulong entry, ulong table, int index, int level) =>
        new(TranslateStatus.Ok, new Gfn(gfn), writable, entry, new Gfn(table), index, level);

    /// <summary>A page fault for the guest's handler at the entry (table, index, level).</summary>
    public static Translation Fault(ulong entry, ulong table, int index, int level) => new(TranslateStatus.PageFault, default, false, entry, new Gfn(table), index, level);
}
