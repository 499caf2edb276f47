using System.Text.Json;
using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;

namespace Memvisor.Report;

/// <summary>Writes summary.json: only simulated, deterministic figures, in a fixed key order, so equal runs give equal bytes.</summary>
public static class SummaryWriter
{
    public static void Write(Stream output, RunResult r)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("scenario", r.Scenario.Name);
        w.WriteNumber("seed", r.Seed);
        w.WriteNumber("duration_s", r.Scenario.DurationNs / 1e9);

        w.WriteStartObject("host");
        w.WriteNumber("frames", r.Frames);
        w.WriteNumber("memory_kib", PageSize.ToKiB(r.Frames));
        w.WriteNumber("numa_nodes", r.Scenario.Host.NumaNodes);
        w.WriteNumber("free_pages_end", r.End.FreeFrames);
        w.WriteNumber("free_pages_min", r.FreePagesMin);
        w.WriteNumber("scrub_pending_pages_end", r.End.ScrubPendingFrames);
        w.WriteNumber("dom0_pages", r.Dom0Pages);
        w.WriteNumber("hypervisor_pages_end", r.End.HypervisorFrames);
        w.WriteNumber("hypervisor_boot_pages", r.HypervisorBootPages);
        w.WriteNumber("owned_pages_end", r.End.OwnedFrames);
        w.WriteNumber("scrubbed_idle", r.ScrubbedIdle);
        w.WriteNumber("scrubbed_on_allocation", r.ScrubbedOnAllocation);
        w.WriteNumber("largest_free_order", r.LargestFreeOrder);
        w.WriteNumber("unusable_free_index_order9", Math.Round(r.UnusableFreeIndexOrder9, 6));
        w.WriteBoolean("accounting_held", r.AccountingHeld);
        w.WriteEndObject();

        w.WriteStartArray("domains");
        foreach (var d in r.Domains)
        {
            if (d.State == DomainState.NotCreated) continue;
            bool running = d.State == DomainState.Running;
            long tot = d.TotPages, max = d.MaxPages;
            w.WriteStartObject();
            w.WriteString("name", d.Name);
            w.WriteNumber("domid", d.DomId);
            w.WriteString("state", d.State.ToString().ToLowerInvariant());
            w.WriteNumber("memory_kib", PageSize.ToKiB(d.TargetPages));
            w.WriteNumber("maxmem_kib", PageSize.ToKiB(max));
            w.WriteNumber("tot_pages", tot);
            w.WriteNumber("max_pages", max);
            w.WriteString("allocation", d.Domain?.Allocation == Memvisor.Hypervisor.Domains.AllocationMode.OnDemand ? "on-demand" : "static");
            w.WriteNumber("created_at_s", d.CreatedAtNs / 1e9);
            if (d.DestroyedAtNs >= 0) w.WriteNumber("destroyed_at_s", d.DestroyedAtNs / 1e9);
            if (d.Domain is { } dom)
            {
                w.WriteNumber("reserve_pages", running ? dom.ReservePages : 0);
                w.WriteNumber("pages_populated", dom.Stats.PagesPopulated);
                w.WriteNumber("pages_released", dom.Stats.PagesReleased);
                w.WriteNumber("pod_faults", dom.Stats.PodFaults);
                w.WriteNumber("refusals", dom.Stats.Refusals);
                w.WriteNumber("hypervisor_ms", Math.Round(dom.Stats.HypervisorNs / 1e6, 3));
            }
            if (d.Guest is { } g)
            {
                w.WriteStartObject("guest");
                w.WriteString("workload", g.Workload.Kind);
                w.WriteNumber("held_pages", g.HeldPages);
                w.WriteNumber("used_pages", g.UsedPages);
                w.WriteNumber("workload_pages", g.Workload.ResidentPages);
                w.WriteNumber("accesses", g.Stats.Accesses);
                w.WriteNumber("writes", g.Stats.Writes);
                w.WriteNumber("failed_accesses", g.Stats.FailedAccesses);
                w.WriteNumber("allocation_failures", g.Stats.AllocationFailures);
                w.WriteNumber("pages_given_back", g.Stats.PagesReleased);
                w.WriteNumber("pages_taken_back", g.Stats.PagesReclaimed);
                w.WriteNumber("target_failures", g.Stats.TargetFailures);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteNumber("errors_total", r.ErrorsTotal);
        w.WriteStartArray("errors");
        foreach (var e in r.Errors)
        {
            w.WriteStartObject();
            w.WriteNumber("time_s", e.TimeNs / 1e9);
            w.WriteString("domain", e.Domain);
            w.WriteString("call", e.Call);
            w.WriteString("errno", e.Errno.ToString());
            w.WriteString("reason", e.Message);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
