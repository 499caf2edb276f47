using Memvisor.Seam;
namespace Memvisor.Hypervisor.Errors;

/// <summary>A request the hypervisor or toolstack refused: when, for whom, which call, the errno and why.</summary>
public sealed record RefusedRequest(long TimeNs, ushort DomId, string Domain, string Call, XenErrno Errno, RefusalCause Cause, long Requested, long Limit)
{
    /// <summary>The reason as a sentence.</summary>
    public string Message => Cause switch
    {
        RefusalCause.OverMaxPages => $"{Call} for {Domain} asked for {Requested} pages but only {Limit} more fit under max_pages.",
        RefusalCause.OutOfMemory => $"{Call} for {Domain} asked for {Requested} pages but the host had only {Limit} free.",
        RefusalCause.NoSuchDomain => $"{Call} named domain {DomId}, which does not exist.",
        RefusalCause.BadGfn => $"{Call} for {Domain} named gfn {Requested}, beyond the domain's physical address space of {Limit} pages.",
        RefusalCause.GfnAlreadyPopulated => $"{Call} for {Domain} asked to populate gfn {Requested}, which is already populated.",
        RefusalCause.GfnNotPopulated => $"{Call} for {Domain} named gfn {Requested}, which holds no page.",
        RefusalCause.BadOrder => $"{Call} for {Domain} used extent order {Requested}, above the limit of {Limit}.",
        RefusalCause.SizeMismatch => $"{Call} for {Domain} would trade {Requested} pages for {Limit}; both sides must be the same size.",
        RefusalCause.BelowTotPages => $"{Call} for {Domain} asked for a maximum of {Requested} pages, below the {Limit} it holds.",
        RefusalCause.BelowDom0Minimum => $"{Call} for {Domain} asked for {Requested} pages, below dom0's minimum of {Limit}.",
        RefusalCause.AboveMaxMem => $"{Call} for {Domain} asked for {Requested} pages, above its maxmem of {Limit}.",
        RefusalCause.NotPermitted => $"{Call} is not permitted on {Domain}.",
        RefusalCause.BadConfiguration => $"{Call} for {Domain} had memory {Requested} pages above maxmem {Limit}.",
        RefusalCause.PageUnreadable => $"{Call} for {Domain} at gfn {Requested} was refused: the page could not be read back from swap intact.",
        RefusalCause.DomainCrashed => $"{Call} for {Domain} was refused: the domain has crashed.",
        RefusalCause.NotOnThisHypervisor => $"{Call} for {Domain} was refused: this hypervisor has no such mechanism.",
        RefusalCause.NotRunning => $"{Call} for {Domain} was refused: {Domain} is not running.",
        RefusalCause.StartupCovered => $"{Call} for {Domain} was refused: the host has all {Requested} pages of its startup memory, so it restarts without Smart Paging.",
        RefusalCause.GrantInUse => $"{Call} for {Domain} was refused: grant reference {Requested} is mapped by its grantee now.",
        RefusalCause.GrantMapped => $"{Call} for {Domain} at gfn {Requested} was refused: the page is mapped through a grant.",
        RefusalCause.SaveUnsupported => $"{Call} for {Domain} was refused: the domain holds state Memvisor's save image does not carry (a populate-on-demand cache or frontswap pages in tmem); it keeps running.",
        RefusalCause.SaveImageInvalid => $"{Call} for {Domain} was refused: its save image is truncated, corrupt or not this domain's.",
        RefusalCause.SaveNameTooLong => $"{Call} was refused: the domain's name is longer than the 4,096 bytes a save image holds; it keeps running.",
        RefusalCause.ImageIo => $"{Call} for {Domain} was refused: its save image could not be written or read (see the host events).",
        RefusalCause.PageReferenced => $"{Call} for {Domain} at gfn {Requested} was refused: the domain's page tables still map the page, or it is one of them.",
        RefusalCause.NotSaved => $"{Call} for {Domain} was refused: {Domain} is not saved now.",
        RefusalCause.NeedsHvm => $"{Call} for {Domain} needs an HVM domain (mmu shadow or hap), and {Domain} is PV.",
        _ => $"{Call} for {Domain} was refused ({Errno}).",
    };
}
