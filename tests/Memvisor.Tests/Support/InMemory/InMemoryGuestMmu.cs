using Memvisor.Seam;

namespace Memvisor.Tests.Support.InMemory;

/// <summary>
/// The MMU of nested paging with nothing cached: every translation walks the guest's four levels in its own memory,
/// setting accessed and dirty bits as the hardware does, and a missing or read-only entry is a page fault for the
/// guest. Page-table writes are plain stores and nothing is refused.
/// </summary>
internal sealed class InMemoryGuestMmu(InMemoryGuestMemory memory) : IGuestMmu
{
    private ulong _root;

    public bool LargePages => true;
    public long Walks { get; private set; }
    /// <summary>When set, records each page announced by a stage-0 prefetch hint, and each page translated.</summary>
    public List<(ulong Vpn, bool Write)>? Announced, Translated;

    public Translation Translate(Vpn page, bool write)
    {
        ulong vpn = page.Value;
        Walks++;
        Translated?.Add((vpn, write));
        ulong table = _root, e = 0;
        int level, index = 0;
        for (level = X86Pte.Levels; ; level--)
        {
            index = X86Pte.IndexAt(vpn, level);
            memory.TryReadWord(new Gfn(table), index, out e);
            if (!X86Pte.IsPresent(e) || X86Pte.IsLeaf(e, level)) break;
            table = X86Pte.Frame(e);
        }
        if (!X86Pte.IsPresent(e) || (write && (e & X86Pte.Writable) == 0)) return Translation.Fault(e, table, index, level);
        ulong updated = e | X86Pte.Accessed | (write ? X86Pte.Dirty : 0);
        if (updated != e) memory.WriteWord(new Gfn(table), index, updated);
        ulong gfn = X86Pte.Frame(e) + (level == 2 ? vpn & 511 : 0);
        return Translation.Ok(gfn, (e & X86Pte.Writable) != 0, updated, table, index, level);
    }

    public ulong ReadEntry(ulong table, int index) => memory.TryReadWord(new Gfn(table), index, out ulong e) ? e : 0;
    public bool WriteEntry(ulong table, int index, ulong value) => memory.WriteWord(new Gfn(table), index, value);
    public bool PinTopLevel(ulong root) => true;

    public bool SwitchAddressSpace(ulong root, int asid)
    {
        _root = root;
        return true;
    }

    public void ReleaseAddressSpace(ulong root) { }
    public void InvalidatePage(int asid, Vpn vpn) { }
    public void FlushAddressSpace(int asid) { }
    public void Submit() { }

    public void Prefetch(Vpn vpn, int stage, bool write)
    {
        if (stage == 0) Announced?.Add((vpn.Value, write));
    }
}
