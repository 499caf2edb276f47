namespace Memvisor.Hypervisor.Migration;

/// <summary>Where a post-copy destination's remote pages come from: the migration that moved the guest.</summary>
internal interface IPostCopySource
{
    /// <summary>
    /// The guest touched <paramref name="gfn"/>, still on the source: its page is fetched into the frame claimed for
    /// it, and the guest is charged the wait. False if the source could not read it back.
    /// </summary>
    bool Fetch(ulong gfn);
}
