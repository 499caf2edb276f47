using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Tests.Support;
using Memvisor.Hypervisor;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor.Mmu;

/// <summary>
/// A minimal guest kernel for MMU tests: builds 4-level tables in its own pages through a <see cref="GuestMmu"/>,
/// from a pool of table pages (gfns from 0 up) and maps data pages (gfns from <see cref="FirstDataGfn"/> up).
/// Its walk reads the tables through the MMU, as the guest sees them.
/// </summary>
internal sealed class MmuTestGuest
{
    public const ulong Flags = X86Pte.Present | X86Pte.Writable | X86Pte.User;
    public const ulong TableFlags = X86Pte.Present | X86Pte.Writable | X86Pte.User | X86Pte.Accessed;
    public readonly ulong FirstDataGfn;
    private ulong _nextTable;
    private readonly Stack<ulong> _freeTables = new();

    public MmuTestGuest(MmuMode mode, long pages = 4096, Func<MmuOptions, MmuOptions>? tune = null, AllocationMode allocation = AllocationMode.Static)
    {
        Hv = TestHost.Create(frames: Math.Max(16384, pages * 3));
        Domain = TestHost.Domain(Hv, "guest", pages, pages, allocation);
        var options = new MmuOptions { Mode = mode };
        Mmu = Hv.AttachMmu(Domain, tune is null ? options : tune(options));
        FirstDataGfn = (ulong)pages / 4;
    }

    public Host Hv { get; }
    public Domain Domain { get; }
    public GuestMmu Mmu { get; }

    public ulong NewTable()
    {
        ulong gfn = _freeTables.Count > 0 ? _freeTables.Pop() : _nextTable++;
        if (gfn >= FirstDataGfn) throw new InvalidOperationException("The test guest ran out of table pages.");
        for (int i = 0; i < 512; i++)
            if (Mmu.ReadEntry(gfn, i) != 0) Mmu.WriteEntry(gfn, i, 0);
        return gfn;
    }

    public void FreeTable(ulong gfn) => _freeTables.Push(gfn);

    /// <summary>The L1 (or, for a 2 MiB mapping, L2) table for vpn, creating missing levels.</summary>
    public ulong EnsureTable(ulong root, ulong vpn, int atLevel)
    {
        ulong table = root;
        for (int level = 4; level > atLevel; level--)
        {
            int index = X86Pte.IndexAt(vpn, level);
            ulong e = Mmu.ReadEntry(table, index);
            if (!X86Pte.IsPresent(e))
            {
                e = X86Pte.Make(NewTable(), TableFlags);
                Mmu.WriteEntry(table, index, e);
            }
            table = X86Pte.Frame(e);
        }
        return table;
    }

    public void Map(ulong root, ulong vpn, ulong gfn, ulong flags = Flags)
    {
        ulong l1 = EnsureTable(root, vpn, 1);
        Mmu.WriteEntry(l1, X86Pte.IndexAt(vpn, 1), X86Pte.Make(gfn, flags));
    }

    /// <summary>The guest's own walk: the leaf entry (and its table and index) or the first non-present entry.</summary>
    public (ulong Entry, ulong Table, int Index, int Level) Walk(ulong root, ulong vpn)
    {
        ulong table = root;
        for (int level = 4; ; level--)
        {
            int index = X86Pte.IndexAt(vpn, level);
            ulong e = Mmu.ReadEntry(table, index);
            if (!X86Pte.IsPresent(e) || X86Pte.IsLeaf(e, level)) return (e, table, index, level);
            table = X86Pte.Frame(e);
        }
    }

    /// <summary>The gfn the guest's tables map vpn to, or null.</summary>
    public ulong? GuestGfn(ulong root, ulong vpn)
    {
        var (e, _, _, level) = Walk(root, vpn);
        return X86Pte.IsPresent(e) ? X86Pte.Frame(e) + (level == 2 ? vpn & 511 : 0) : null;
    }
}
