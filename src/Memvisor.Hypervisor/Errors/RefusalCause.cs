namespace Memvisor.Hypervisor.Errors;

/// <summary>Why a request was refused; each cause has a sentence in <see cref="RefusedRequest.Message"/>.</summary>
public enum RefusalCause
{
    OverMaxPages,
    OutOfMemory,
    NoSuchDomain,
    BadGfn,
    GfnAlreadyPopulated,
    GfnNotPopulated,
    BadOrder,
    SizeMismatch,
    BelowTotPages,
    BelowDom0Minimum,
    AboveMaxMem,
    NotPermitted,
    BadConfiguration,
    /// <summary>The mechanism needs hardware-assisted or shadow paging, and the domain is PV.</summary>
    NeedsHvm,
    /// <summary>A paged-out page the swap device could not return, or returned with the wrong bytes.</summary>
    PageUnreadable,
    /// <summary>The domain was crashed (Xen's domain_crash): its vCPUs no longer run.</summary>
    DomainCrashed,
    /// <summary>The host's hypervisor has no such mechanism (Hyper-V has no page sharing).</summary>
    NotOnThisHypervisor,
    /// <summary>The toolstack action needs a running domain (a restart of one not built, destroyed or crashed).</summary>
    NotRunning,
    /// <summary>Smart Paging was asked for a VM the host can give all its startup memory.</summary>
    StartupCovered,
    /// <summary>The grant entry is mapped by its grantee now (GTF_reading or GTF_writing set).</summary>
    GrantInUse,
    /// <summary>The page is mapped by another domain through a grant, or is such a mapping: it cannot be freed or given back.</summary>
    GrantMapped,
    /// <summary>The domain holds state Memvisor's save stream does not carry (a populate-on-demand cache, frontswap pages in tmem).</summary>
    SaveUnsupported,
    /// <summary>The save image is truncated, corrupt, not a Memvisor save image, or for another domain.</summary>
    SaveImageInvalid,
    /// <summary>A PV domain's page that its page tables still map, or that is one of them: it cannot be given back yet.</summary>
    PageReferenced,
    /// <summary>A restore of a domain that is not saved now (never saved, or restored already).</summary>
    NotSaved,
    /// <summary>The domain's name is longer than a save image holds (4,096 bytes of UTF-8).</summary>
    SaveNameTooLong,
    /// <summary>The save image could not be written or read (a file-system error; a host event gives it).</summary>
    ImageIo,
}
