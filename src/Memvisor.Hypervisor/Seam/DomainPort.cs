using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Content;

namespace Memvisor.Hypervisor.Seam;

/// <summary>The in-process implementation of <see cref="IGuestMemory"/> for one domain: p2m lookups and the PoD fault path.</summary>
internal sealed class DomainPort(Hypervisor hv, Domain d) : IGuestMemory
{
    public ushort DomId => d.DomId;
    public long CurrentReservation => d.TotPages;
    public long MaximumReservation => d.MaxPages;
    public long PhysicalPages => (long)d.P2m.Capacity;
    public long TargetPages => d.TargetPages;

    public XenErrno PopulatePhysmap(ReadOnlySpan<ulong> gfns, int order, bool onDemand = false) => hv.MemoryOp.PopulatePhysmap(d.DomId, gfns, order, onDemand);
    public XenErrno IncreaseReservation(ReadOnlySpan<ulong> gfns, int order, Span<uint> mfnsOut) => hv.MemoryOp.IncreaseReservation(d.DomId, gfns, order, mfnsOut);
    public XenErrno DecreaseReservation(ReadOnlySpan<ulong> gfns, int order) => hv.MemoryOp.DecreaseReservation(d.DomId, gfns, order);
    public XenErrno Exchange(ReadOnlySpan<ulong> inGfns, int inOrder, ReadOnlySpan<ulong> outGfns, int outOrder) => hv.MemoryOp.Exchange(d.DomId, inGfns, inOrder, outGfns, outOrder);

    public AccessOutcome Touch(ulong gfn, bool write, ContentHandle written)
    {
        d.Stats.Accesses++;
        var outcome = Resolve(gfn, out uint mfn);
        if (outcome != AccessOutcome.Refused && write)
            hv.Machine.SetContent(mfn, written);
        return outcome;
    }

    public bool ReadPage(ulong gfn, Span<byte> page)
    {
        if (Resolve(gfn, out uint mfn) == AccessOutcome.Refused) return false;
        hv.Machine.ReadFrame(mfn, page);
        return true;
    }

    public bool WritePage(ulong gfn, ReadOnlySpan<byte> page)
    {
        if (Resolve(gfn, out uint mfn) == AccessOutcome.Refused) return false;
        hv.Machine.WriteFrame(mfn, page);
        return true;
    }

    public bool TryReadWord(ulong gfn, int index, out ulong value)
    {
        if (Resolve(gfn, out uint mfn) == AccessOutcome.Refused)
        {
            value = 0;
            return false;
        }
        value = hv.Machine.ReadWord(mfn, index);
        return true;
    }

    public bool WriteWord(ulong gfn, int index, ulong value)
    {
        if (Resolve(gfn, out uint mfn) == AccessOutcome.Refused) return false;
        hv.Machine.WriteWord(mfn, index, value);
        return true;
    }

    public bool TryReadSynthetic(ulong gfn, out ContentHandle content)
    {
        content = ContentHandle.Zero;
        if (Resolve(gfn, out uint mfn) == AccessOutcome.Refused) return false;
        content = hv.Machine.Frames[mfn].Content;
        return content.IsZero || content.IsSynthetic;
    }

    private AccessOutcome Resolve(ulong gfn, out uint mfn)
    {
        var e = d.P2m.Get(gfn);
        if (e.HasFrame)
        {
            mfn = e.Mfn;
            return AccessOutcome.Hit;
        }
        if (e.Type == P2mType.PopulateOnDemand && hv.MemoryOp.PopulateOnDemandFault(d, gfn) == XenErrno.Ok)
        {
            mfn = d.P2m.Get(gfn).Mfn;
            return AccessOutcome.PopulatedOnDemand;
        }
        if (e.Type == P2mType.Invalid)
        {
            d.Stats.Refusals++;
            hv.Refusals.Record(d.DomId, d.Name, "access", XenErrno.EFAULT, RefusalCause.GfnNotPopulated, (long)Math.Min(gfn, long.MaxValue), 0);
        }
        mfn = 0;
        return AccessOutcome.Refused;
    }
}
