using Memvisor.Guest.Workloads.Trace;

namespace Memvisor.Guest.Workloads;

/// <summary>A workload as a scenario describes it.</summary>
public sealed record WorkloadSpec
{
    public required string Kind { get; init; }
    /// <summary>steady, zipf, fork-exec (heap per process): pages in the working set.</summary>
    public long WorkingSetPages { get; init; }
    /// <summary>Accesses per simulated second (file-streaming: pages per second).</summary>
    public double RatePerSecond { get; init; }
    /// <summary>Share of accesses that are writes.</summary>
    public double WriteFraction { get; init; } = 0.3;
    /// <summary>grow, grow-shrink: the size to reach.</summary>
    public long ToPages { get; init; }
    /// <summary>grow-shrink: the size to shrink back to.</summary>
    public long FromPages { get; init; }
    /// <summary>grow: how long it takes to reach its size; grow-shrink: one swing up and down.</summary>
    public long OverNs { get; init; }
    /// <summary>zipf: the exponent s (probability of rank r is proportional to 1/r^s).</summary>
    public double Skew { get; init; } = 0.99;
    /// <summary>phases: the working sets in turn; display: the screen areas redrawn in turn.</summary>
    public IReadOnlyList<Phase> Phases { get; init; } = [];
    /// <summary>fork-exec: processes started per second, and how long each lives.</summary>
    public double SpawnsPerSecond { get; init; }
    public long LifetimeNs { get; init; }
    /// <summary>file-streaming: the file's size in pages.</summary>
    public long FilePages { get; init; }
    /// <summary>mix: the workloads run side by side.</summary>
    public IReadOnlyList<WorkloadSpec> Parts { get; init; } = [];
    /// <summary>trace: the file, its format, whether it loops, its speed and the working-set window.</summary>
    public string? TracePath { get; init; }
    public string TraceFormat { get; init; } = "auto";
    public bool Loop { get; init; }
    public double Speed { get; init; } = 1.0;
    public long WindowNs { get; init; } = 1_000_000_000;
    /// <summary>demand: the recorded memory in use over time (memvisor record); loops with <see cref="Loop"/>.</summary>
    public IReadOnlyList<DemandSample> Demand { get; init; } = [];
    /// <summary>trace: the process name (the file's name without extension by default).</summary>
    public string? ProcessName { get; init; }

    public static readonly IReadOnlyList<string> Kinds = ["idle", "steady", "zipf", "phases", "grow", "grow-shrink", "fork-exec", "file-streaming", "mix", "trace", "display", "demand"];

    public IWorkload Create() => Kind switch
    {
        "idle" => new IdleWorkload(),
        "steady" => new SteadyWorkload(WorkingSetPages, RatePerSecond, WriteFraction),
        "zipf" => new ZipfWorkload(WorkingSetPages, RatePerSecond, WriteFraction, Skew),
        "phases" => new PhasesWorkload(Phases, RatePerSecond, WriteFraction),
        "grow" => new GrowShrinkWorkload("grow", 0, ToPages, OverNs, repeat: false, RatePerSecond, WriteFraction),
        "grow-shrink" => new GrowShrinkWorkload("grow-shrink", FromPages, ToPages, OverNs, repeat: true, RatePerSecond, WriteFraction),
        "fork-exec" => new ForkExecWorkload(SpawnsPerSecond, LifetimeNs, WorkingSetPages, RatePerSecond, WriteFraction),
        "file-streaming" => new FileStreamingWorkload(FilePages, RatePerSecond, WriteFraction),
        "display" => new DisplayWorkload(Phases, RatePerSecond),
        "demand" => new GrowShrinkWorkload("demand", new DemandSchedule(Demand, Loop).PagesAt, RatePerSecond, WriteFraction),
        "mix" => new MixWorkload(Parts.Select(p => p.Create()).ToList()),
        "trace" => new TraceWorkload(ProcessName ?? Path.GetFileNameWithoutExtension(TracePath!), () => TraceFile.Open(TracePath!, TraceFormat), Speed, Loop, WindowNs),
        _ => throw new ArgumentException($"There is no workload kind '{Kind}'; the kinds are {string.Join(", ", Kinds)}.", nameof(Kind)),
    };
}
