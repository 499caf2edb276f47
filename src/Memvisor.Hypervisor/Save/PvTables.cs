using System.Buffers.Binary;
using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu.Pv;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Save;

/// <summary>
/// A PV guest's page tables name machine frames, which mean nothing on another domain or host. A save image and a
/// migration stream carry them with each entry's frame turned into the guest's gfn, and the new domain turns the
/// gfns back into its own frames before it pins them (Xen's normalise_pagetable and localise_pagetable, in
/// tools/libs/guest/xg_sr_save_x86_pv.c and xg_sr_restore_x86_pv.c). The hypervisor's own L4 slots are left as
/// they are.
/// </summary>
internal static class PvTables
{
    /// <summary>The page-table level (1..4) of a frame a PV domain uses as a table now, or 0.</summary>
    public static int LevelOf(Host hv, uint mfn)
    {
        ref var f = ref hv.Machine.Frames[mfn];
        return f.TypeCount > 0 && PageTypes.IsTable(f.Type) ? PageTypes.LevelOf(f.Type) : 0;
    }

    /// <summary>The table at <paramref name="mfn"/> into <paramref name="page"/>, its entries' frames as gfns.</summary>
    public static void Canonicalize(Host hv, uint mfn, int level, Span<byte> page)
    {
        for (int i = 0; i < 512; i++)
        {
            ulong e = hv.Machine.ReadWord(mfn, i);
            if (Converts(level, i, e) && X86Pte.Frame(e) < (ulong)hv.Machine.TotalFrames)
                e = X86Pte.Make(hv.M2p[(uint)X86Pte.Frame(e)], e & ~X86Pte.AddressMask);
            BinaryPrimitives.WriteUInt64LittleEndian(page[(i * 8)..], e);
        }
    }

    /// <summary>The table at the domain's <paramref name="gfn"/>, which holds gfns, made to name the domain's frames; false if an entry names a gfn with no frame.</summary>
    public static bool Localize(Host hv, Domain d, ulong gfn, int level)
    {
        uint mfn = d.P2m.Get(gfn).Mfn;
        bool whole = true;
        for (int i = 0; i < 512; i++)
        {
            ulong e = hv.Machine.ReadWord(mfn, i);
            if (!Converts(level, i, e)) continue;
            var target = d.P2m.Get(X86Pte.Frame(e));
            if (!target.HasFrame) whole = false;
            hv.Machine.WriteWord(mfn, i, target.HasFrame ? X86Pte.Make(target.Mfn, e & ~X86Pte.AddressMask) : 0);
        }
        return whole;
    }

    private static bool Converts(int level, int index, ulong e) =>
        X86Pte.IsPresent(e) && !(level == 4 && index >= PageTypes.HypervisorFirstSlot && index <= PageTypes.HypervisorLastSlot);
}
