using System.Text.Json;
using Memvisor.Sim.Engine;

namespace Memvisor.Report;

/// <summary>Wall-clock and process figures of one run (run.json): not deterministic, so kept out of summary.json.</summary>
public sealed record RunInfo(double WallSeconds, long PeakRssBytes, long BaselineRssBytes, long GcHeapBytes)
{
    /// <summary>The process's peak resident set (VmHWM from /proc/self/status), in bytes; 0 where unknown.</summary>
    public static long ReadPeakRss()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        }
        catch (IOException)
        {
        }
        return Environment.WorkingSet;
    }

    public void Write(Stream output, RunResult r)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("scenario", r.Scenario.Name);
        w.WriteNumber("wall_seconds", Math.Round(WallSeconds, 3));
        w.WriteNumber("simulated_seconds", r.Scenario.DurationNs / 1e9);
        w.WriteNumber("events", r.EventsProcessed);
        w.WriteNumber("events_per_second", WallSeconds > 0 ? Math.Round(r.EventsProcessed / WallSeconds, 1) : 0);
        long accesses = r.Summary.Domains.Sum(d => d.Guest?.Accesses ?? 0);
        w.WriteNumber("guest_accesses", accesses);
        w.WriteNumber("guest_accesses_per_second", WallSeconds > 0 ? Math.Round(accesses / WallSeconds, 1) : 0);
        // Wall time of the guests' steps per guest access: the access path and everything a guest does around it.
        w.WriteNumber("guest_ns_per_access", accesses > 0 ? Math.Round(WallSplit.Seconds(r.Wall.GuestsTicks) * 1e9 / accesses, 1) : 0);
        w.WriteStartObject("wall_split_seconds");
        w.WriteNumber("guests", Math.Round(WallSplit.Seconds(r.Wall.GuestsTicks), 3));
        w.WriteNumber("hypervisor", Math.Round(WallSplit.Seconds(r.Wall.HypervisorTicks), 3));
        w.WriteNumber("policy", Math.Round(WallSplit.Seconds(r.Wall.PolicyTicks), 3));
        w.WriteNumber("metrics", Math.Round(WallSplit.Seconds(r.Wall.MetricsTicks), 3));
        w.WriteEndObject();
        // The guests' steps on lanes: how many could run at once, and how many steps needed a turn (ran on alone from
        // their first touch of shared state) rather than finishing beside the others.
        w.WriteStartObject("guest_lanes");
        w.WriteNumber("threads", r.Wall.Threads);
        w.WriteNumber("steps", r.Wall.GuestSteps);
        w.WriteNumber("steps_with_turn", r.Wall.GuestStepsWithTurn);
        w.WriteEndObject();
        // The sharing scanner's own rate: pages it looked at per wall second of its steps.
        long scanned = r.Mechanisms.Sharing.PagesScanned;
        double scanSeconds = WallSplit.Seconds(r.Wall.ScannerTicks);
        w.WriteStartObject("sharing_scanner");
        w.WriteNumber("pages_scanned", scanned);
        w.WriteNumber("wall_seconds", Math.Round(scanSeconds, 3));
        w.WriteNumber("pages_per_second", scanSeconds > 0 ? Math.Round(scanned / scanSeconds) : 0);
        w.WriteEndObject();
        w.WriteNumber("frames", r.AllFrames);
        w.WriteNumber("peak_rss_bytes", PeakRssBytes);
        w.WriteNumber("baseline_rss_bytes", BaselineRssBytes);
        w.WriteNumber("peak_rss_per_frame_bytes", Math.Round((double)PeakRssBytes / r.AllFrames, 2));
        w.WriteNumber("model_rss_per_frame_bytes", Math.Round((double)(PeakRssBytes - BaselineRssBytes) / r.AllFrames, 2));
        w.WriteNumber("gc_heap_bytes", GcHeapBytes);
        w.WriteStartObject("metadata_bytes");
        w.WriteNumber("frame_table", r.PeakMetadata.FrameTable);
        w.WriteNumber("heap_links", r.PeakMetadata.HeapLinks);
        w.WriteNumber("m2p", r.PeakMetadata.M2p);
        w.WriteNumber("p2m_peak", r.PeakMetadata.P2m);
        w.WriteNumber("total", r.PeakMetadata.Total);
        w.WriteNumber("per_frame", Math.Round(r.PeakMetadata.PerFrame, 2));
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
