using Memvisor.Seam;

namespace Memvisor.Guest.Mm;

/// <summary>
/// Reads and writes 4-level x86-64 page tables that live in guest frames, through the vCPU's MMU (which validates
/// them under PV, may trap them under shadow paging and stores them plainly under nested paging). Leaves are 4 KiB
/// PTEs or 2 MiB PDEs with PS set.
/// </summary>
public sealed class PageTables(IGuestMmu mmu)
{
    public delegate void LeafVisitor(ulong vpn, ulong table, int index, ulong entry);

    /// <summary>Table words read and written (the walks and updates a hypervisor would see).</summary>
    public long Reads { get; private set; }
    public long Writes { get; private set; }
    /// <summary>Table writes the MMU refused at once (a table page the domain no longer holds); 0 in a healthy guest.</summary>
    public long Failures { get; private set; }

    public ulong Read(ulong table, int index)
    {
        Reads++;
        return mmu.ReadEntry(table, index);
    }

    public void Write(ulong table, int index, ulong value)
    {
        Writes++;
        if (!mmu.WriteEntry(table, index, value)) Failures++;
    }

    /// <summary>
    /// Walks from <paramref name="root"/> toward <paramref name="vpn"/>: returns the leaf (a PTE, or a PDE with PS)
    /// or the first non-present entry on the way, with the table and index it sits at and its level (4..1).
    /// </summary>
    public ulong Walk(ulong root, ulong vpn, out ulong table, out int index, out int level)
    {
        table = root;
        for (level = 4; ; level--)
        {
            index = Pte.IndexAt(vpn, level);
            ulong e = Read(table, index);
            if (level == 1 || !Pte.IsPresent(e) || (level == 2 && (e & Pte.Huge) != 0)) return e;
            table = Pte.Frame(e);
        }
    }

    /// <summary>
    /// Returns the table at <paramref name="atLevel"/> (1 = page table, 2 = page directory) for <paramref name="vpn"/>,
    /// creating the missing levels above it with pages from <paramref name="newTable"/> (a zeroed page, or false if none could be had).
    /// </summary>
    public bool TryEnsureTable(ulong root, ulong vpn, int atLevel, Func<(bool Ok, ulong Gfn)> newTable, out ulong leafTable)
    {
        ulong table = root;
        for (int level = 4; level > atLevel; level--)
        {
            int index = Pte.IndexAt(vpn, level);
            ulong e = Read(table, index);
            if (!Pte.IsPresent(e))
            {
                var (ok, gfn) = newTable();
                if (!ok)
                {
                    leafTable = 0;
                    return false;
                }
                e = Pte.Make(gfn, Pte.TableFlags);
                Write(table, index, e);
            }
            table = Pte.Frame(e);
        }
        leafTable = table;
        return true;
    }

    /// <summary>Visits every non-empty leaf entry (present or swap) for pages [start, end), skipping absent tables whole.</summary>
    public void ForEachLeaf(ulong root, ulong start, ulong end, LeafVisitor visit) => Visit(root, 4, 0, start, end, visit);

    /// <summary>Visits every table page below <paramref name="root"/> in the user half (PML4 slots 0..255), leaves first, then the table itself.</summary>
    public void ForEachUserTable(ulong root, Action<ulong> visit)
    {
        for (int i = 0; i < 256; i++)
        {
            ulong e = Read(root, i);
            if (Pte.IsPresent(e)) VisitTables(Pte.Frame(e), 3, visit);
        }
    }

    private void VisitTables(ulong table, int level, Action<ulong> visit)
    {
        if (level > 1)
            for (int i = 0; i < 512; i++)
            {
                ulong e = Read(table, i);
                if (Pte.IsPresent(e) && !(level == 2 && (e & Pte.Huge) != 0)) VisitTables(Pte.Frame(e), level - 1, visit);
            }
        visit(table);
    }

    private void Visit(ulong table, int level, ulong baseVpn, ulong start, ulong end, LeafVisitor visit)
    {
        int shift = 9 * (level - 1);
        ulong span = 1UL << shift;
        int first = start > baseVpn ? (int)((start - baseVpn) >> shift) : 0;
        for (int i = first; i < 512; i++)
        {
            ulong lo = baseVpn + ((ulong)i << shift);
            if (lo >= end) break;
            ulong e = Read(table, i);
            if (e == 0) continue;
            if (level == 1 || (level == 2 && (e & Pte.Huge) != 0)) visit(lo, table, i, e);
            else if (Pte.IsPresent(e)) Visit(Pte.Frame(e), level - 1, lo, Math.Max(start, lo), Math.Min(end, lo + span), visit);
        }
    }
}
