using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Frames;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Paging;

/// <summary>
/// Hyper-V's Smart Paging (Microsoft, "Hyper-V Dynamic Memory Overview", Windows Server 2012): when a VM restarts
/// and the host cannot give it its startup memory, Hyper-V starts it anyway if its minimum memory is there, with the
/// gap between what the host has and the startup memory on a Smart Paging file on disk. The VM pages against that
/// file until Dynamic Memory has taken it down to what the host can back (or memory is freed elsewhere); then the file
/// is read back in and removed. Smart Paging is used only while a VM restarts: a VM that is started and cannot get
/// its startup memory does not start.
/// </summary>
public sealed class SmartPaging(Host hv)
{
    /// <summary>Domains restarted under Smart Paging so far.</summary>
    public long Restarts { get; private set; }

    // Domains under Smart Paging now: the host's step looks at none while this is 0.
    private int _active;

    /// <summary>Restarts a Hyper-V domain short of its startup memory: the first pages (all the host has free, at least
    /// <paramref name="minimumPages"/>) in frames, the rest on the Smart Paging file. Refused on other hypervisors, for
    /// a domain whose startup memory the host can cover (it restarts as any domain does), or when even the minimum is not free.</summary>
    public XenErrno Restart(DomainConfig config, long minimumPages, out Domain? domain)
    {
        domain = null;
        if (hv.Personality.Kind != Personalities.HypervisorKind.HyperV || config.Allocation != AllocationMode.Static)
            return hv.Refusals.Record(DomIds.Invalid, config.Name, "smart-paging", XenErrno.EOPNOTSUPP, RefusalCause.NotOnThisHypervisor, 0, 0);
        long fixedPages = Host.HeldPagesFor(config, hv.Personality);
        long backed = Math.Min(config.MemoryPages, hv.Machine.FreeFrames - fixedPages);
        if (backed >= config.MemoryPages)
            return hv.Refusals.Record(DomIds.Invalid, config.Name, "smart-paging", XenErrno.EINVAL, RefusalCause.StartupCovered, config.MemoryPages, backed);
        if (backed < Math.Min(minimumPages, config.MemoryPages))
            return hv.Refusals.Record(DomIds.Invalid, config.Name, "smart-paging", XenErrno.ENOMEM, RefusalCause.OutOfMemory, minimumPages + fixedPages, hv.Machine.FreeFrames);
        var errno = hv.Build(config, backed, out domain);
        if (errno != XenErrno.Ok || domain is null) return errno;
        domain.SmartPaging = true;
        Restarts++;
        _active++;
        hv.Events.Add("smart-paging", domain.Name,
            $"{domain.Name} restarted with {PageSize.ToMiB(backed)}MiB of its {PageSize.ToMiB(config.MemoryPages)}MiB startup memory; the rest is on its Smart Paging file.");
        return XenErrno.Ok;
    }

    /// <summary>Ends Smart Paging for each domain the host can now back whole: what is on the file is read back in and the file removed.</summary>
    internal void Step()
    {
        if (_active == 0) return;
        var domains = hv.Domains;
        for (int i = 0; i < domains.Count; i++)
        {
            var d = domains[i];
            if (!d.SmartPaging) continue;
            long onFile = d.P2m.PodEntries + d.P2m.PagedOutEntries + d.P2m.CompressedEntries;
            if (onFile > hv.Machine.FreeFrames) continue;
            d.SmartPaging = false;
            _active--;
            var gfns = new List<ulong>();
            d.P2m.ForEachPresent((gfn, e) =>
            {
                if (e.Type is P2mType.PopulateOnDemand or P2mType.PagedOut or P2mType.Compressed) gfns.Add(gfn);
            });
            long left = 0;
            foreach (ulong gfn in gfns)
            {
                bool back = d.P2m.Get(gfn).Type == P2mType.PopulateOnDemand
                    ? hv.MemoryOp.PopulateOnDemandFault(d, gfn) == XenErrno.Ok
                    : hv.Paging.PageIn(d, gfn, out _, out _);
                if (!back) left++;
            }
            hv.Events.Add("smart-paging", d.Name, left == 0
                ? $"{d.Name} is backed by memory again ({PageSize.ToMiB(d.TotPages)}MiB); its Smart Paging file is removed."
                : $"{d.Name} left Smart Paging with {left} pages that could not be read back; they stay paged out.");
        }
    }

    /// <summary>A domain under Smart Paging was destroyed (a restart or a destroy during it).</summary>
    internal void Forget(Domain d)
    {
        if (!d.SmartPaging) return;
        d.SmartPaging = false;
        _active--;
    }
}
