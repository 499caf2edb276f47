using Memvisor.Seam;
using Memvisor.Machine.Frames;
using Memvisor.Policy.Snapshot;
using Memvisor.Sim.Engine;
using Memvisor.Hypervisor;

namespace Memvisor.Sim.Policies;

/// <summary>Reads what a policy may see, the way a policy daemon does: domain info from the hypervisor, keys from the store, meminfo the guest agent reports.</summary>
public static class SnapshotBuilder
{
    public static HostSnapshot Build(Host hv, IEnumerable<DomainRecord> records, long nowNs)
    {
        var domains = new List<DomainSnapshot>();
        foreach (var r in records)
        {
            if (r.State != DomainState.Running || r.Domain is not { } d || d.IsDom0 || r.Guest is not { } g) continue;
            long Key(string key, long fallback) => hv.Store.ReadLong(Host.StorePath(d, key), fallback);
            var m = g.MemInfo();
            long memory = d.Config.MemoryPages;
            long? min = r.Spec?.DynamicMinBytes is long lo ? PageSize.FromBytes(lo) : null;
            long? max = r.Spec?.DynamicMaxBytes is long hi ? PageSize.FromBytes(hi) : null;
            long dynMin = min ?? Math.Min(memory, max ?? memory), dynMax = max ?? Math.Max(memory, min ?? memory);
            long? Pages(long? bytes) => bytes is long b ? PageSize.FromBytes(b) : null;
            var spec = r.Spec!;
            domains.Add(new DomainSnapshot
            {
                Name = r.Name,
                DomId = d.DomId,
                TotPages = d.TotPages,
                TargetPages = Key(StoreKeys.Target, PageSize.ToKiB(d.TargetPages)) / PageSize.KiB,
                StaticMaxPages = Key(StoreKeys.StaticMax, PageSize.ToKiB(d.MaxPages)) / PageSize.KiB,
                MemoryPages = memory,
                DynamicMinPages = dynMin,
                DynamicMaxPages = dynMax,
                CurrentPages = Key(StoreKeys.Current, PageSize.ToKiB(d.TotPages)) / PageSize.KiB,
                FeatureBalloon = Key(StoreKeys.FeatureBalloon, 0) == 1,
                Uncooperative = Key(StoreKeys.Uncooperative, 0) == 1,
                MemFreePages = m.MemFree,
                MemAvailablePages = m.MemAvailable,
                CommittedAsPages = m.CommittedAs,
                MajorFaults = g.Stats.MajorFaults,
                SwapIns = g.Stats.SwapIns,
                StallNs = g.Stats.StallNs,
                FloorPages = g.Balloon.FloorPages,
                ActivePages = d.ActivePages,
                Mrc = g.Mrc is { } mrc ? new MissCurve { BucketPages = mrc.BucketPages, Hits = [.. mrc.Hits], Cold = mrc.Cold, WindowNs = mrc.HalfLifeNs } : null,
                HotplugEnabled = g.Options.Hotplug.Enabled,
                HotplugRequestedPages = Key(StoreKeys.HotplugRequested, 0) / PageSize.KiB,
                Shares = spec.Shares ?? 10 * PageSize.ToMiB(memory),
                // vSphere's default reservation is 0 (Resource Management: "Memory Virtualization Basics", reservation defaults).
                ReservationPages = Pages(spec.ReservationBytes) ?? 0,
                LimitPages = Pages(spec.LimitBytes) ?? max ?? d.MaxPages,
                MinimumPages = PageSize.FromBytes(spec.MinimumRamBytes),
                MaximumPages = Pages(spec.MaximumBytes) ?? max ?? d.MaxPages,
                BufferPercent = spec.BufferPercent ?? 20,
                Weight = spec.Weight ?? 5000,
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
