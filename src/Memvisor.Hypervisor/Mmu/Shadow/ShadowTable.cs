namespace Memvisor.Hypervisor.Mmu.Shadow;

/// <summary>
/// The hypervisor's shadow of one guest page-table page: 512 entries the hardware walks instead of the guest's.
/// Upper levels link to child shadows by their index in the pool; L1 entries map the guest frame with the
/// permissions the shadow allows. An fl1 shadow stands for a guest 2 MiB page, split into 512 4 KiB entries.
/// </summary>
internal sealed class ShadowTable(ulong key, int level)
{
    public readonly ulong[] Entries = new ulong[512];
    /// <summary>The guest table's gfn, or for an fl1 the first gfn of the 2 MiB page with <see cref="ShadowMmu.Fl1Key"/> set.</summary>
    public ulong Key = key;
    public int Level = level;
    /// <summary>Links from parent shadows, plus one while it is a pinned top-level table.</summary>
    public int Refs;
    public bool Pinned;
    /// <summary>Shadow-3: the guest may write the page directly; the shadow is stale until resynced.</summary>
    public bool OutOfSync;
    public bool IsFl1 => (Key & ShadowMmu.Fl1Key) != 0;
}
