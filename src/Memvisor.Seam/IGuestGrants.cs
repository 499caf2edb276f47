namespace Memvisor.Seam;

/// <summary>
/// The grant-table operations a guest kernel makes (Xen's common/grant_table.c): its own table's entries, which it
/// writes to grant another domain a page (gnttab_grant_foreign_access) and clears to end it, and the
/// GNTTABOP_setup_table, map_grant_ref and unmap_grant_ref hypercalls. Split drivers use them: a frontend grants its
/// buffers, a backend maps them into ballooned-out gfns of its own.
/// </summary>
public interface IGuestGrants
{
    /// <summary>GNTTABOP_setup_table: the domain's table has at least <paramref name="frames"/> frames (512 v1 entries each).</summary>
    XenErrno GrantSetupTable(int frames);

    /// <summary>Grants <paramref name="grantee"/> the page at <paramref name="gfn"/> under entry <paramref name="gref"/>.</summary>
    XenErrno GrantAccess(uint gref, ushort grantee, Gfn gfn, bool readOnly);

    /// <summary>Ends the grant under <paramref name="gref"/>; refused (EBUSY) while the grantee has it mapped.</summary>
    XenErrno GrantEndAccess(uint gref);

    /// <summary>GNTTABOP_map_grant_ref: maps <paramref name="granter"/>'s page granted under <paramref name="gref"/> at this domain's empty gfn <paramref name="at"/>.</summary>
    XenErrno GrantMap(ushort granter, uint gref, Gfn at, bool readOnly, out uint handle);

    /// <summary>GNTTABOP_unmap_grant_ref: removes the mapping <paramref name="handle"/>; the gfn holds nothing again.</summary>
    XenErrno GrantUnmap(uint handle);

    /// <summary>
    /// GNTTABOP_copy: Xen copies <paramref name="length"/> bytes at <paramref name="offset"/> between two pages, each
    /// this domain's own gfn (its domid given) or a page another domain granted it (that domain's id and the reference).
    /// </summary>
    XenErrno GrantCopy(ushort sourceDomain, ulong sourceGfnOrRef, ushort destinationDomain, ulong destinationGfnOrRef, int offset, int length);

    /// <summary>Offers to take a page from <paramref name="sender"/> into this domain's empty gfn <paramref name="gfn"/> (gnttab_grant_foreign_transfer).</summary>
    XenErrno GrantAcceptTransfer(uint gref, ushort sender, Gfn gfn);

    /// <summary>GNTTABOP_transfer (page flipping): gives this domain's page at <paramref name="gfn"/> to the domain whose entry <paramref name="gref"/> accepts it.</summary>
    XenErrno GrantTransfer(Gfn gfn, ushort receiver, uint gref);
}
