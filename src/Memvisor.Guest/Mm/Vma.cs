namespace Memvisor.Guest.Mm;

public enum VmaKind { Anon, File }

/// <summary>A virtual memory area: pages [Start, End) of a process, anonymous or backed by a file from FileOffset (Linux's vm_area_struct).</summary>
public sealed class Vma(ulong start, ulong end, VmaKind kind, bool writable, int fileId = -1, ulong fileOffset = 0)
{
    public ulong Start { get; } = start;
    public ulong End { get; set; } = end;
    public VmaKind Kind { get; } = kind;
    public bool Writable { get; } = writable;
    public int FileId { get; } = fileId;
    /// <summary>File page mapped at <see cref="Start"/>.</summary>
    public ulong FileOffset { get; } = fileOffset;
    public ulong Pages => End - Start;

    public bool Contains(ulong vpn) => vpn >= Start && vpn < End;
}
