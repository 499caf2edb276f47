using Memvisor.Hypervisor.Seam;
using Memvisor.Machine.Frames;
using Memvisor.Policy.Snapshot;
using Memvisor.Sim.Engine;
using HypervisorCore = Memvisor.Hypervisor.Hypervisor;

namespace Memvisor.Sim.Policies;

/// <summary>Reads what a policy may see, the way a policy daemon does: domain info from the hypervisor, keys from the store, meminfo the guest agent reports.</summary>
public static class SnapshotBuilder
{
    public static HostSnapshot Build(HypervisorCore hv, IEnumerable<DomainRecord> records, long nowNs)
    {
        var domains = new List<DomainSnapshot>();
        foreach (var r in records)
        {
            if (r.State != DomainState.Running || r.Domain is not { } d || d.IsDom0 || r.Guest is not { } g) continue;
            long Key(string key, long fallback) => hv.Store.ReadLong(HypervisorCore.StorePath(d, key), fallback);
            var m = g.MemInfo();
            long memory = d.Config.MemoryPages;
            long? min = r.Spec?.DynamicMinBytes is long lo ? PageSize.FromBytes(lo) : null;
            long? max = r.Spec?.DynamicMaxBytes is long hi ? PageSize.FromBytes(hi) : null;
            domains.Add(new DomainSnapshot
            {
                Name = r.Name,
                DomId = d.DomId,
                TotPages = d.TotPages,
                TargetPages = Key(StoreKeys.Target, PageSize.ToKiB(d.TargetPages)) / PageSize.KiB,
                StaticMaxPages = Key(StoreKeys.StaticMax, PageSize.ToKiB(d.MaxPages)) / PageSize.KiB,
                MemoryPages = memory,
                DynamicMinPages = min ?? Math.Min(memory, max ?? memory),
                DynamicMaxPages = max ?? Math.Max(memory, min ?? memory),
                CurrentPages = Key(StoreKeys.Current, PageSize.ToKiB(d.TotPages)) / PageSize.KiB,
                FeatureBalloon = Key(StoreKeys.FeatureBalloon, 0) == 1,
                Uncooperative = Key(StoreKeys.Uncooperative, 0) == 1,
                MemFreePages = m.MemFree,
                MemAvailablePages = m.MemAvailable,
                CommittedAsPages = m.CommittedAs,
                MajorFaults = g.Stats.MajorFaults,
                SwapIns = g.Stats.SwapIns,
                StallNs = g.Stats.StallNs,
            });
        }
        return new HostSnapshot
        {
            TimeNs = nowNs,
            TotalPages = hv.Machine.TotalFrames,
            FreePages = hv.Machine.FreeFrames,
            SharingScanRate = hv.Sharing.Options.Enabled ? hv.Sharing.Options.ScanRatePagesPerSecond : 0,
            Domains = domains,
        };
    }
}
