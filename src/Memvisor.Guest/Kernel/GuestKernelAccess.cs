using Memvisor.Machine.Frames;
using Memvisor.Machine.Content;
using Memvisor.Guest.Mm;
using Memvisor.Guest.PageCache;
using Memvisor.Guest.Storage;
using Memvisor.Seam;
using Memvisor.Machine.Randomness;

namespace Memvisor.Guest.Kernel;

// The access path: a process's load or store, and a file's read or write through the page cache.
public sealed partial class GuestKernel
{
    /// <summary>
    /// A load or store by process <paramref name="p"/> at virtual address <paramref name="address"/>: translated by
    /// the TLB or by walking the page tables (setting accessed and dirty bits as the CPU does), faulting the page in
    /// if needed. A store leaves new bytes in the page. False if the access could not be completed.
    /// </summary>
    public bool Access(Process p, ulong address, bool write)
    {
        // The vCPU stopped when the hypervisor crashed the domain (possibly earlier in this step).
        if (Memory.Halted) return false;
        Counters.Accesses++;
        ulong vpn = (address >> PageSize.Shift) & ((1UL << X86Pte.VirtualPageBits) - 1);
        Mrc?.Record(((ulong)(uint)p.Pid << X86Pte.VirtualPageBits) | vpn);
        bool translated = Translate(p, vpn, write, out ulong gfn);
        Stall(Memory.TakeStallNs());
        if (!translated)
        {
            Counters.FailedAccesses++;
            return false;
        }
        if (Tiering is { } tiering && Allocator.IsRemote(gfn)) gfn = tiering.OnRemoteAccess(gfn);
        AccessOutcome outcome;
        if (write)
        {
            Counters.Writes++;
            var content = NewData(p.Slot, vpn);
            outcome = Memory.Touch(new Gfn(gfn), write: true, content);
            // A write the hypervisor refused (no frame to break sharing with) left the page as it was.
            if (outcome != AccessOutcome.Refused) Integrity?.Wrote(p, vpn, content);
        }
        else
        {
            outcome = Memory.Touch(new Gfn(gfn), write: false, ContentHandle.Zero);
            Integrity?.CheckRead(p, vpn, gfn);
        }
        switch (outcome)
        {
            case AccessOutcome.Hit: break;
            case AccessOutcome.PopulatedOnDemand: Counters.PodFaults++; break;
            case AccessOutcome.Refused: Counters.FailedAccesses++; break;
            default:
                // A post-copy fetch is counted by its migration.
                if (outcome == AccessOutcome.PagedIn) Counters.HypervisorPageIns++;
                else if (outcome == AccessOutcome.Unshared) Counters.CowBreaks++;
                Stall(Memory.TakeStallNs());
                break;
        }
        return true;
    }

    // The accesses announced most recently, newest at _expectedAt, for the later prefetch stages (see Expect).
    private readonly ulong[] _expected = new ulong[8];
    private int _expectedAt;
    // Stage k of the prefetch pipeline runs on the access announced StageLag * k before the newest, once what stage
    // k-1 started loading has had time to arrive (IGuestMmu.Prefetch). Chosen by A/B runs (docs/benchmarks.md).
    private const int StageLag = 2, Stages = 4;

    /// <summary>
    /// A workload's hint that <paramref name="p"/> will soon load or store at <paramref name="address"/>, announced a
    /// few accesses ahead: the MMU starts loading what the coming walks will read, so the simulator waits for its
    /// memory less. A wrong hint costs a little time and changes no result.
    /// </summary>
    public void Expect(Process p, ulong address, bool write)
    {
        if (_running != p) return;
        ulong vpn = (address >> PageSize.Shift) & ((1UL << X86Pte.VirtualPageBits) - 1);
        _expectedAt = (_expectedAt + 1) & 7;
        _expected[_expectedAt] = (vpn << 1) | (write ? 1UL : 0);
        Mmu.Prefetch(new Vpn(vpn), 0, write);
        for (int stage = 1; stage < Stages; stage++)
        {
            ulong e = _expected[(_expectedAt - StageLag * stage) & 7];
            Mmu.Prefetch(new Vpn(e >> 1), stage, (e & 1) != 0);
        }
    }

    // A page of a file, apart from every process's virtual pages.
    private static ulong FileKey(GuestFile f, long index) => (1UL << 63) | ((ulong)(uint)f.Id << X86Pte.VirtualPageBits) | (ulong)index;

    private ContentHandle NewData(int owner, ulong index) =>
        ContentHandle.Synthetic(Options.DataClass, DeterministicRandom.Mix(((ulong)Memory.DomId << 52) ^ ((ulong)owner << 36) ^ index ^ (++_writeSeq << 20)));

    // The MMU translates; a page fault goes to the fault handler and the access is tried again.
    private bool Translate(Process p, ulong vpn, bool write, out ulong gfn)
    {
        for (int attempt = 0; attempt < 4 && !p.Exited; attempt++)
        {
            if (_running != p && !Run(p)) break;
            var t = Mmu.Translate(new Vpn(vpn), write);
            if (t.Status == TranslateStatus.Ok)
            {
                gfn = t.Gfn.Value;
                return true;
            }
            // A write to a present read-only page is a protection fault: the model has no copy-on-write to serve it.
            if (Pte.IsPresent(t.Entry) || !_faults.Handle(p, vpn, write, t.Entry, t.Table.Value, t.Index, t.Level)) break;
        }
        gfn = 0;
        return false;
    }


    /// <summary>Creates a file whose pages on disk initially hold <paramref name="initial"/>(page index).</summary>
    public GuestFile CreateFile(string name, long pages, Func<long, ContentHandle> initial)
    {
        var f = new GuestFile(_files.Count, name, pages, new PageStore(initial));
        _files.Add(f);
        return f;
    }

    /// <summary>Creates a data file of <paramref name="pages"/> pages of this guest's own bytes.</summary>
    public GuestFile CreateDataFile(string name, long pages)
    {
        ulong key = DeterministicRandom.Mix(((ulong)Memory.DomId << 40) ^ ((ulong)_files.Count << 20) ^ Options.RandomStream);
        var cls = Options.DataClass;
        return CreateFile(name, pages, index => ContentHandle.Synthetic(cls, DeterministicRandom.Mix(key + (ulong)index)));
    }

    /// <summary>read() of one page of a file through the page cache; false if it could not be done (no memory).</summary>
    public bool ReadFile(GuestFile f, long index)
    {
        Mrc?.Record(FileKey(f, index));
        if (!Cache.TryGetPage(f, index, readFromDisk: true, out ulong gfn)) return false;
        Cache.MarkAccessed(gfn);
        Integrity?.CheckFile(f, index, gfn);
        return true;
    }

    /// <summary>write() of one whole page of a file: the page cache page gets new bytes and is dirty until written back.</summary>
    public bool WriteFile(GuestFile f, long index)
    {
        Mrc?.Record(FileKey(f, index));
        if (!Cache.TryGetPage(f, index, readFromDisk: false, out ulong gfn)) return false;
        var content = NewData(f.Id, (ulong)index);
        if (Memory.Touch(new Gfn(gfn), write: true, content) == AccessOutcome.Refused)
        {
            Counters.FailedAccesses++;
            return false;
        }
        Writeback.MarkDirty(gfn);
        Cache.MarkAccessed(gfn);
        Integrity?.WroteFile(f, index, content);
        return true;
    }
}
