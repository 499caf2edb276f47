using Memvisor.Guest.Workloads;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.Seam;
using Memvisor.Machine.Content;
using Memvisor.Machine.Randomness;

namespace Memvisor.Guest.Kernel;

/// <summary>
/// A minimal guest kernel: a page allocator over the gfns it holds, a boot that writes its kernel text, a workload
/// that touches, allocates and frees pages, and a follower of memory/target that gives pages back with
/// decrease_reservation or takes them with populate_physmap, in the way Linux's Xen balloon driver does, with its
/// retry back-off (1 s doubling to 32 s). It reaches the hypervisor only through <see cref="IGuestMemory"/>.
/// </summary>
public sealed class GuestKernel
{
    private const int Batch = 256;
    private static readonly long MaxBackoffNs = 32_000_000_000;

    private readonly GfnBitmap _held;
    private readonly GfnBitmap _used;
    private readonly ulong[] _batch = new ulong[Batch];
    private readonly bool _onDemand;
    private DeterministicRandom _rng;
    private int _allocCursor;
    private ulong _writeSeq;
    private double _targetCredit;
    private long _retryAtNs;
    private long _backoffNs = 1_000_000_000;

    public GuestKernel(string name, IGuestMemory memory, IWorkload workload, GuestOptions options, ulong seed, bool onDemand)
    {
        Name = name;
        Memory = memory;
        Workload = workload;
        Options = options;
        _onDemand = onDemand;
        _rng = DeterministicRandom.ForStream(seed, options.RandomStream);
        _held = new GfnBitmap(memory.PhysicalPages);
        _used = new GfnBitmap(memory.PhysicalPages);
    }

    public string Name { get; }
    public IGuestMemory Memory { get; }
    public IWorkload Workload { get; }
    public GuestOptions Options { get; }
    public GuestStats Stats { get; } = new();

    /// <summary>Pages the guest believes it has (backed, or reserved on demand).</summary>
    public long HeldPages => _held.Count;
    /// <summary>Pages the kernel has handed to itself and its processes.</summary>
    public long UsedPages => _used.Count;
    public long FreePages => _held.Count - _used.Count;

    /// <summary>Boots: learns its memory map (gfns below the initial target) and writes its kernel text.</summary>
    public void Boot()
    {
        long initial = Memory.TargetPages;
        for (long gfn = 0; gfn < initial; gfn++) _held.Set(gfn);
        long text = Math.Min(Options.KernelTextPages, initial / 4);
        for (uint i = 0; i < text; i++)
        {
            if (!TryAllocatePage(out ulong gfn)) break;
            TouchWith(gfn, write: true, ContentHandle.ImagePage(ContentClass.KernelText, Options.ImageId, i));
        }
    }

    /// <summary>Advances the guest by <paramref name="dtNs"/>: its workload runs, then it moves toward its target.</summary>
    public void Step(long nowNs, long dtNs)
    {
        if (Memory.PhysicalPages > _held.Length)
        {
            // mem-max raised the physical address space (as a guest sees hotplugged or balloon-reachable memory).
            _held.Grow(Memory.PhysicalPages);
            _used.Grow(Memory.PhysicalPages);
        }
        Workload.Step(this, nowNs, dtNs);
        FollowTarget(nowNs, dtNs);
    }

    /// <summary>Hands a free page to the caller; false (and counted) if the kernel holds none.</summary>
    public bool TryAllocatePage(out ulong gfn)
    {
        long bit = _held.FindSetExcluding(_used, _allocCursor);
        if (bit < 0)
        {
            Stats.AllocationFailures++;
            gfn = 0;
            return false;
        }
        _used.Set(bit);
        _allocCursor = (int)(bit >> 6);
        gfn = (ulong)bit;
        return true;
    }

    public void FreePage(ulong gfn) => _used.Clear((long)gfn);

    /// <summary>Reads or writes a page; a write leaves new bytes of the guest's data class in it.</summary>
    public AccessOutcome Touch(ulong gfn, bool write)
    {
        var content = write
            ? ContentHandle.Synthetic(Options.DataClass, DeterministicRandom.Mix(((ulong)Memory.DomId << 48) ^ (gfn << 20) ^ ++_writeSeq))
            : ContentHandle.Zero;
        return TouchWith(gfn, write, content);
    }

    /// <summary>A uniform random integer below <paramref name="bound"/> from this guest's stream.</summary>
    public ulong NextRandom(ulong bound) => _rng.NextBelow(bound);
    public double NextDouble() => _rng.NextDouble();

    private AccessOutcome TouchWith(ulong gfn, bool write, ContentHandle content)
    {
        Stats.Accesses++;
        if (write) Stats.Writes++;
        var outcome = Memory.Touch(gfn, write, content);
        if (outcome == AccessOutcome.PopulatedOnDemand) Stats.PodFaults++;
        else if (outcome == AccessOutcome.Refused) Stats.FailedAccesses++;
        return outcome;
    }

    private void FollowTarget(long nowNs, long dtNs)
    {
        long target = Math.Min(Memory.TargetPages, Memory.PhysicalPages);
        if (target == _held.Count)
        {
            _targetCredit = 0;
            return;
        }
        if (nowNs < _retryAtNs) return;
        _targetCredit += Options.TargetPagesPerSecond * dtNs / 1e9;
        long budget = (long)_targetCredit;
        _targetCredit -= budget;
        bool ok = target < _held.Count ? Release(Math.Min(budget, _held.Count - target)) : Reclaim(Math.Min(budget, target - _held.Count));
        if (ok)
        {
            _backoffNs = 1_000_000_000;
            return;
        }
        Stats.TargetFailures++;
        _retryAtNs = nowNs + _backoffNs;
        _backoffNs = Math.Min(_backoffNs * 2, MaxBackoffNs);
        _targetCredit = 0;
    }

    // Gives free pages back, highest gfns first; false if the kernel had too few free pages to meet the budget.
    private bool Release(long pages)
    {
        int cursor = _held.WordCount - 1;
        while (pages > 0)
        {
            int n = 0;
            while (n < Batch && n < pages)
            {
                long bit = _held.FindLastSetExcluding(_used, cursor);
                if (bit < 0) break;
                cursor = (int)(bit >> 6);
                _held.Clear(bit);
                _batch[n++] = (ulong)bit;
            }
            if (n == 0) return false;
            if (Memory.DecreaseReservation(_batch.AsSpan(0, n), 0) != XenErrno.Ok)
            {
                for (int i = 0; i < n; i++) _held.Set((long)_batch[i]);
                return false;
            }
            Stats.PagesReleased += n;
            pages -= n;
        }
        return true;
    }

    // Takes pages back at the lowest gfns it does not hold; false if the hypervisor refused.
    private bool Reclaim(long pages)
    {
        int cursor = 0;
        while (pages > 0)
        {
            int n = 0;
            while (n < Batch && n < pages)
            {
                long bit = _held.FindClear(cursor);
                if (bit < 0) break;
                cursor = (int)(bit >> 6);
                _held.Set(bit);
                _batch[n++] = (ulong)bit;
            }
            if (n == 0) return false;
            if (Memory.PopulatePhysmap(_batch.AsSpan(0, n), 0, _onDemand) != XenErrno.Ok)
            {
                for (int i = 0; i < n; i++) _held.Clear((long)_batch[i]);
                return false;
            }
            Stats.PagesReclaimed += n;
            pages -= n;
        }
        return true;
    }
}
