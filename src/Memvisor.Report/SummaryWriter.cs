using System.Text.Json;
using Memvisor.Guest.Kernel;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Hypervisor.Mmu.LogDirty;
using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Policies;
using Memvisor.Sim.Metrics;

namespace Memvisor.Report;

/// <summary>Writes summary.json: only simulated, deterministic figures, in a fixed key order, so equal runs give equal bytes.</summary>
public static class SummaryWriter
{
    private static void WriteGuest(Utf8JsonWriter w, GuestKernel g)
    {
        var s = g.Stats;
        var m = g.MemInfo();
        w.WriteStartObject("guest");
        w.WriteString("workload", g.Workload.Kind);
        w.WriteString("kernel_image", g.Options.KernelImage);
        if (g.ImageFill is { } fill)
        {
            w.WriteStartObject("image");
            w.WriteString("path", fill.Path);
            w.WriteNumber("pages_loaded", fill.Loaded);
            w.WriteNumber("zero_pages", fill.ZeroPages);
            w.WriteNumber("pages_not_placed", fill.OutsideMemory);
            w.WriteEndObject();
        }
        w.WriteNumber("held_pages", g.HeldPages);
        w.WriteNumber("accesses", s.Accesses);
        w.WriteNumber("writes", s.Writes);
        w.WriteNumber("failed_accesses", s.FailedAccesses);
        w.WriteNumber("allocation_failures", s.AllocationFailures);
        w.WriteNumber("minor_faults", s.MinorFaults);
        w.WriteNumber("major_faults", s.MajorFaults);
        w.WriteNumber("swap_ins", s.SwapIns);
        w.WriteNumber("swap_outs", s.SwapOuts);
        w.WriteNumber("oom_kills", s.OomKills);
        w.WriteNumber("pages_scanned", s.PagesScanned);
        w.WriteNumber("pages_stolen", s.PagesStolen);
        w.WriteNumber("direct_reclaims", s.DirectReclaims);
        w.WriteNumber("file_reads", s.FileReads);
        w.WriteNumber("writeback_pages", s.WritebackPages);
        w.WriteNumber("stall_ms", Math.Round(s.StallNs / 1e6, 3));
        w.WriteNumber("pages_given_back", s.PagesReleased);
        w.WriteNumber("pages_taken_back", s.PagesReclaimed);
        w.WriteNumber("target_failures", s.TargetFailures);
        w.WriteNumber("mem_total_kib", PageSize.ToKiB(m.MemTotal));
        w.WriteNumber("mem_free_kib", PageSize.ToKiB(m.MemFree));
        w.WriteNumber("mem_available_kib", PageSize.ToKiB(m.MemAvailable));
        w.WriteNumber("cached_kib", PageSize.ToKiB(m.Cached));
        w.WriteNumber("dirty_kib", PageSize.ToKiB(m.Dirty));
        w.WriteNumber("anon_pages_kib", PageSize.ToKiB(m.AnonPages));
        w.WriteNumber("page_tables_kib", PageSize.ToKiB(m.PageTables));
        w.WriteNumber("kernel_kib", PageSize.ToKiB(m.KernelPages));
        w.WriteNumber("active_anon_kib", PageSize.ToKiB(m.ActiveAnon));
        w.WriteNumber("inactive_anon_kib", PageSize.ToKiB(m.InactiveAnon));
        w.WriteNumber("active_file_kib", PageSize.ToKiB(m.ActiveFile));
        w.WriteNumber("inactive_file_kib", PageSize.ToKiB(m.InactiveFile));
        w.WriteNumber("committed_as_kib", PageSize.ToKiB(m.CommittedAs));
        w.WriteNumber("swap_total_kib", PageSize.ToKiB(m.SwapTotal));
        w.WriteNumber("swap_free_kib", PageSize.ToKiB(m.SwapFree));
        w.WriteBoolean("meminfo_adds_up", m.AddsUp);
        w.WriteStartArray("oom_killed");
        foreach (var kill in g.OomKills)
        {
            w.WriteStartObject();
            w.WriteNumber("time_s", kill.TimeNs / 1e9);
            w.WriteNumber("pid", kill.Pid);
            w.WriteString("process", kill.Process);
            w.WriteNumber("pages", kill.Pages);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (g.Integrity is { } check)
        {
            w.WriteNumber("integrity_checks", check.Checks);
            w.WriteNumber("integrity_violations", check.Violations);
        }
        w.WriteEndObject();
    }

    private static void WriteMmu(Utf8JsonWriter w, GuestMmu mmu)
    {
        var s = mmu.Snapshot();
        w.WriteStartObject("mmu");
        w.WriteString("mode", mmu.Mode.Name());
        w.WriteNumber("hypervisor_trips", s.HypervisorTrips);
        w.WriteStartObject("exits");
        for (int i = 0; i < ExitReasons.Count; i++) w.WriteNumber(ExitReasons.Names[i], s.Exits[i]);
        w.WriteEndObject();
        w.WriteNumber("hypercalls", s.Hypercalls);
        w.WriteNumber("updates", s.Updates);
        w.WriteNumber("updates_refused", s.UpdatesRefused);
        w.WriteNumber("updates_per_hypercall", Math.Round(s.UpdatesPerHypercall, 3));
        w.WriteNumber("ext_ops", s.ExtOps);
        w.WriteNumber("demand_faults", s.DemandFaults);
        w.WriteNumber("emulated_writes", s.EmulatedWrites);
        w.WriteNumber("unsynced", s.Unsynced);
        w.WriteNumber("resyncs", s.Resyncs);
        w.WriteNumber("pulled_through", s.PulledThrough);
        w.WriteNumber("shadows_made", s.ShadowsMade);
        w.WriteNumber("tlb_hits", s.TlbHits);
        w.WriteNumber("tlb_misses", s.TlbMisses);
        w.WriteNumber("tlb_flushes", s.TlbFlushes);
        w.WriteNumber("walks", s.Walks);
        w.WriteNumber("walk_refs_max", s.WalkRefsMax);
        w.WriteNumber("walk_refs_total", s.WalkRefsTotal);
        w.WriteNumber("hypervisor_ms", Math.Round(s.HypervisorNs / 1e6, 3));
        w.WriteEndObject();
    }

    private static void WriteVram(Utf8JsonWriter w, VramTracker v)
    {
        w.WriteStartObject("vram");
        w.WriteNumber("first_gfn", v.FirstGfn);
        w.WriteNumber("pages", v.Pages);
        w.WriteNumber("refresh_hz", Math.Round(1e9 / v.PeriodNs, 3));
        w.WriteNumber("refreshes", v.Refreshes);
        w.WriteNumber("dirty_pages", v.DirtyPagesReturned);
        w.WriteNumber("polling_ms", Math.Round(v.PollingNs / 1e6, 3));
        w.WriteNumber("tracking_ms", Math.Round(v.TrackingNs / 1e6, 3));
        w.WriteNumber("tracking_with_drop_ms", Math.Round(v.TrackingWithDropNs / 1e6, 3));
        w.WriteNumber("drops", v.Drops);
        w.WriteNumber("resumes", v.Resumes);
        w.WriteEndObject();
    }

    private static void WriteProcesses(Utf8JsonWriter w, GuestKernel g)
    {
        w.WriteStartArray("processes");
        foreach (var p in g.Workload.Processes)
        {
            var s = p.Stats;
            w.WriteStartObject();
            w.WriteString("name", p.Name);
            w.WriteNumber("pid", p.Pid);
            w.WriteBoolean("exited", p.Exited);
            w.WriteNumber("accesses", s.Accesses);
            w.WriteNumber("instructions", s.Instructions);
            w.WriteNumber("loads", s.Loads);
            w.WriteNumber("stores", s.Stores);
            w.WriteNumber("modifies", s.Modifies);
            w.WriteNumber("distinct_pages", s.DistinctPages);
            w.WriteNumber("minor_faults", s.MinorFaults);
            w.WriteNumber("major_faults", s.MajorFaults);
            w.WriteNumber("segmentation_faults", s.SegmentationFaults);
            w.WriteNumber("rss_pages", s.RssAnon + s.RssFile);
            w.WriteNumber("swap_pages", s.SwapEntries);
            w.WriteNumber("page_table_pages", s.PageTablePages);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WritePolicy(Utf8JsonWriter w, PolicyLog p)
    {
        w.WriteStartObject("policy");
        w.WriteString("name", p.Name);
        w.WriteNumber("interval_s", p.IntervalNs / 1e9);
        w.WriteNumber("decisions", p.Decisions);
        w.WriteStartObject("actions");
        foreach (var (kind, count) in p.Actions) w.WriteNumber(kind, count);
        w.WriteEndObject();
        w.WriteNumber("refused", p.Refused);
        w.WriteEndObject();
    }

    private static void WriteMechanisms(Utf8JsonWriter w, MechanismFigures m)
    {
        w.WriteStartObject("mechanisms");
        w.WriteStartObject("balloon");
        w.WriteNumber("pages_reclaimed", m.BalloonPagesReclaimed);
        w.WriteNumber("pages_returned", m.BalloonPagesReturned);
        w.WriteNumber("stuck", m.BalloonStuck);
        w.WriteNumber("uncooperative", m.BalloonUncooperative);
        w.WriteNumber("selfballoon_adjustments", m.SelfBalloonAdjustments);
        w.WriteEndObject();
        w.WriteStartObject("sharing");
        w.WriteNumber("pages_shared", m.SharingPagesShared);
        w.WriteNumber("pages_sharing", m.SharingPagesSharing);
        w.WriteNumber("pages_unshared", m.SharingPagesUnshared);
        w.WriteNumber("zero_pages", m.SharingZeroPages);
        w.WriteNumber("saved_pages", m.SharingSavedPages);
        w.WriteNumber("pages_scanned", m.SharingPagesScanned);
        w.WriteNumber("cow_breaks", m.SharingCowBreaks);
        w.WriteNumber("full_scans", m.SharingFullScans);
        w.WriteEndObject();
        w.WriteStartObject("paging");
        w.WriteNumber("paged_out", m.PagingPagedOut);
        w.WriteNumber("paged_in", m.PagingPagedIn);
        w.WriteNumber("swap_writes", m.PagingSwapWrites);
        w.WriteNumber("swap_reads", m.PagingSwapReads);
        w.WriteNumber("zero_dropped", m.PagingZeroDropped);
        w.WriteNumber("emergency_evictions", m.PagingEmergencyEvictions);
        w.WriteNumber("write_errors", m.PagingWriteErrors);
        w.WriteNumber("read_errors", m.PagingReadErrors);
        w.WriteNumber("checksum_errors", m.PagingChecksumErrors);
        w.WriteNumber("unreadable_pages", m.PagingUnreadablePages);
        if (m.PagingStopped is { } why) w.WriteString("stopped", why);
        w.WriteEndObject();
        w.WriteStartObject("compression");
        w.WriteNumber("pages_compressed", m.CompressionPagesCompressed);
        w.WriteNumber("pages_decompressed", m.CompressionPagesDecompressed);
        w.WriteNumber("incompressible", m.CompressionIncompressible);
        w.WriteNumber("evicted_to_swap", m.CompressionEvictedToSwap);
        w.WriteNumber("bytes_saved", m.CompressionBytesSaved);
        w.WriteNumber("ratio", m.CompressionRatio);
        w.WriteEndObject();
        w.WriteStartObject("tmem");
        w.WriteNumber("puts", m.TmemPuts);
        w.WriteNumber("gets", m.TmemGets);
        w.WriteNumber("get_misses", m.TmemGetMisses);
        w.WriteNumber("puts_refused", m.TmemPutsRefused);
        w.WriteNumber("ephemeral_evicted", m.TmemEphemeralEvicted);
        w.WriteNumber("pages_end", m.TmemPagesEnd);
        w.WriteEndObject();
        w.WriteStartObject("free_page_reporting");
        w.WriteNumber("pages_reported", m.FreePageReportingPagesReported);
        w.WriteEndObject();
        w.WriteStartObject("hotplug");
        w.WriteNumber("pages_added", m.HotplugPagesAdded);
        w.WriteNumber("pages_removed", m.HotplugPagesRemoved);
        w.WriteNumber("pages_migrated", m.HotplugPagesMigrated);
        w.WriteNumber("offline_failures", m.HotplugOfflineFailures);
        w.WriteEndObject();
        w.WriteEndObject();
    }

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
        w.WriteNumber("shared_pages_end", r.End.SharedFrames);
        w.WriteNumber("compression_pages_end", r.End.CompressionFrames);
        w.WriteNumber("tmem_pages_end", r.End.TmemFrames);
        w.WriteNumber("configured_guest_pages", r.ConfiguredGuestPages);
        w.WriteNumber("overcommit_ratio", r.Frames == 0 ? 0 : Math.Round((double)r.ConfiguredGuestPages / r.Frames, 3));
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
                if (dom.Mmu is { } mmu) WriteMmu(w, mmu);
                if (dom.Vram is { } vram) WriteVram(w, vram);
            }
            if (d.Guest is { } g)
            {
                WriteGuest(w, g);
                WriteProcesses(w, g);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();

        WriteMechanisms(w, r.Mechanisms);
        if (r.Policy is { } policy) WritePolicy(w, policy);
        w.WriteStartObject("integrity");
        w.WriteNumber("verified_reads", r.VerifiedReads);
        w.WriteNumber("errors", r.IntegrityErrors);
        w.WriteEndObject();

        w.WriteNumber("host_events_total", r.HostEventsTotal);
        w.WriteStartArray("host_events");
        foreach (var e in r.HostEvents)
        {
            w.WriteStartObject();
            w.WriteNumber("time_s", e.TimeNs / 1e9);
            w.WriteString("mechanism", e.Mechanism);
            w.WriteString("domain", e.Domain);
            w.WriteString("message", e.Message);
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
