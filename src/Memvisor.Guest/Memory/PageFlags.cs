namespace Memvisor.Guest.Memory;

/// <summary>Per-page state bits, after Linux's PG_* flags.</summary>
[Flags]
public enum PageFlags : byte
{
    None = 0,
    /// <summary>On an LRU list (PG_lru).</summary>
    OnLru = 1,
    /// <summary>On the active rather than the inactive list (PG_active).</summary>
    Active = 2,
    /// <summary>Referenced through a system call since reclaim last looked (PG_referenced).</summary>
    Referenced = 4,
    /// <summary>Holds data not yet written back to its file (PG_dirty).</summary>
    Dirty = 8,
    /// <summary>Its accessed bit was cleared by working-set sampling, not by reclaim (PG_young of idle page tracking).</summary>
    Young = 16,
    /// <summary>One of the 512 pages of a transparent huge page mapped whole (PG_head, PG_tail).</summary>
    Compound = 32,
}
