using Memvisor.Machine.Lanes;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Port;

// The grant-table operations of the domain's guest kernel (split drivers' frontends and backends). Each reaches
// another domain's table or frame, or the heap, so each takes the lane's turn first.
internal sealed partial class DomainPort
{
    public XenErrno GrantSetupTable(int frames)
    {
        Turn.Take();
        return hv.Grants.SetupTable(d.DomId, frames);
    }

    public XenErrno GrantAccess(uint gref, ushort grantee, Gfn gfn, bool readOnly)
    {
        Turn.Take();
        return hv.Grants.GrantAccess(d.DomId, gref, grantee, gfn.Value, readOnly);
    }

    public XenErrno GrantEndAccess(uint gref)
    {
        Turn.Take();
        return hv.Grants.EndAccess(d.DomId, gref);
    }

    public XenErrno GrantMap(ushort granter, uint gref, Gfn at, bool readOnly, out uint handle)
    {
        Turn.Take();
        return hv.Grants.Map(d.DomId, granter, gref, at.Value, readOnly, out handle);
    }

    public XenErrno GrantUnmap(uint handle)
    {
        Turn.Take();
        return hv.Grants.Unmap(d.DomId, handle);
    }

    public XenErrno GrantCopy(ushort sourceDomain, ulong sourceGfnOrRef, ushort destinationDomain, ulong destinationGfnOrRef, int offset, int length)
    {
        Turn.Take();
        return hv.Grants.Copy(d.DomId, new Grants.GrantCopySide(sourceDomain, sourceGfnOrRef), new Grants.GrantCopySide(destinationDomain, destinationGfnOrRef), offset, length);
    }

    public XenErrno GrantAcceptTransfer(uint gref, ushort sender, Gfn gfn)
    {
        Turn.Take();
        return hv.Grants.AcceptTransfer(d.DomId, gref, sender, gfn.Value);
    }

    public XenErrno GrantTransfer(Gfn gfn, ushort receiver, uint gref)
    {
        Turn.Take();
        return hv.Grants.Transfer(d.DomId, gfn.Value, receiver, gref);
    }
}
