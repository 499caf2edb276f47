using FsCheck;
using FsCheck.Fluent;
using Memvisor.Daemon.Control;
using Memvisor.Daemon.Host;
using Memvisor.Daemon.Vms;
using Memvisor.Policy;
using Memvisor.Policy.Snapshot;
using Memvisor.Policy.Squeezed;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Daemon;

/// <summary>The daemon's safety rules, snapshot and log without QEMU: VMs are <see cref="FakeVm"/>s and policies are scripted.</summary>
public sealed class DaemonRulesTests
{
    private const long Mib = 1 << 20;

    /// <summary>A policy that returns the actions it is given, one list a decision, and keeps the snapshots it saw.</summary>
    private sealed class ScriptedPolicy(params IReadOnlyList<PolicyAction>[] decisions) : IPolicy
    {
        private int _next;
        public List<HostSnapshot> Seen { get; } = [];
        public string Name => "scripted";
        public long IntervalNs => 1_000_000_000;
        public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
        {
            Seen.Add(host);
            return _next < decisions.Length ? decisions[_next++] : [];
        }
    }

    private static HostDaemon Daemon(IPolicy policy, DaemonOptions options, StringWriter log, params FakeVm[] vms) =>
        new([.. vms], policy, options, new DecisionLog(log), () => new MemInfo(8192 * Mib, 1024 * Mib, 4096 * Mib));

    [Fact]
    public void A_target_is_kept_above_the_floor_and_within_a_step_and_the_log_says_why()
    {
        var vm = new FakeVm("a", 1024 * Mib) { UsedBytes = 300 * Mib };
        IReadOnlyList<PolicyAction> down = [PolicyAction.MemSet("a", 100 * Mib / 4096)];
        var policy = new ScriptedPolicy(down, down, down, down);
        var log = new StringWriter();
        var daemon = Daemon(policy, new DaemonOptions { MaxStepBytes = 256 * Mib, HeadroomBytes = 32 * Mib }, log, vm);
        var first = Assert.Single(daemon.Step());
        Assert.Equal(ActionResult.Clamped, first.Result);
        Assert.Equal(768.0 * Mib, first.Set);
        Assert.Contains("limited to a step of 256 MiB", first.Reason);
        Assert.Equal(512.0 * Mib, Assert.Single(daemon.Step()).Set);
        var second = Assert.Single(daemon.Step());
        // The floor: 300 MiB used plus 32 of headroom.
        Assert.Equal(ActionResult.Clamped, second.Result);
        Assert.Equal(332.0 * Mib, second.Set);
        Assert.Contains("raised to the floor, 332 MiB", second.Reason);
        Assert.Equal(ActionResult.Unchanged, Assert.Single(daemon.Step()).Result);
        Assert.Equal([768 * Mib, 512 * Mib, 332 * Mib], vm.BalloonRequests);
        Assert.Contains("\"reason\":\"raised to the floor, 332 MiB\"", log.ToString());
    }

    [Fact]
    public void Statistics_from_before_the_balloon_moved_never_lower_the_floor()
    {
        var vm = new FakeVm("a", 1024 * Mib) { UsedBytes = 300 * Mib };
        IReadOnlyList<PolicyAction> down = [PolicyAction.MemSet("a", 100 * Mib / 4096)];
        var daemon = Daemon(new ScriptedPolicy(down, down, down), new DaemonOptions { MaxStepBytes = 1024 * Mib, HeadroomBytes = 0 }, new StringWriter(), vm);
        Assert.Equal(300.0 * Mib, Assert.Single(daemon.Step()).Set);
        // The guest's old report said it used 300 MiB; one taken before the balloon moved now says 100.
        vm.UsedBytes = 100 * Mib;
        vm.StatsStale = true;
        daemon.Step();
        Assert.Equal(300 * Mib, daemon.Vms[0].FloorBytes);
        vm.StatsStale = false;
        daemon.Step();
        Assert.Equal(100 * Mib, daemon.Vms[0].FloorBytes);
    }

    [Fact]
    public void A_guest_left_below_its_floor_is_raised_toward_it_and_shrinking_waits_for_fresh_statistics()
    {
        var vm = new FakeVm("a", 1024 * Mib) { UsedBytes = 200 * Mib };
        var log = new StringWriter();
        var daemon = Daemon(new ScriptedPolicy([PolicyAction.MemSet("a", 250 * Mib / 4096)]), new DaemonOptions { MaxStepBytes = 1024 * Mib, HeadroomBytes = 64 * Mib }, log, vm);
        Assert.Equal(264.0 * Mib, Assert.Single(daemon.Step()).Set);
        // The guest's use grows past what it holds less the headroom: the daemon raises it without its policy.
        vm.UsedBytes = 260 * Mib;
        var raised = Assert.Single(daemon.Step());
        Assert.Equal((ActionResult.Applied, 324.0 * Mib), (raised.Result, raised.Set));
        Assert.Contains("the daemon's floor", raised.Reason);
        // Statistics from before that move: no shrinking until fresh ones come.
        vm.StatsStale = true;
        var daemon2 = Daemon(new ScriptedPolicy([], [PolicyAction.MemSet("a", 300 * Mib / 4096)]), new DaemonOptions { MaxStepBytes = 1024 * Mib }, new StringWriter(), vm);
        daemon2.Vms[0].Moves.Asked();
        daemon2.Step();
        daemon2.Vms[0].Moves.Asked();
        var refused = Assert.Single(daemon2.Step());
        Assert.Equal(ActionResult.Refused, refused.Result);
        Assert.Contains("since its balloon last moved", refused.Reason);
    }

    [Fact]
    public void The_same_QEMU_through_two_sockets_is_driven_through_the_first_only()
    {
        var a = new FakeVm("a", 1024 * Mib) { Pid = 42 };
        var twin = new FakeVm("a", 1024 * Mib) { Pid = 42 };
        var log = new StringWriter();
        var daemon = Daemon(new ScriptedPolicy([PolicyAction.MemSet("a", 900 * Mib / 4096)]), new DaemonOptions(), log, a, twin);
        daemon.Step();
        Assert.True(daemon.Vms[1].Unresponsive);
        Assert.Contains("reaches the same QEMU (pid 42)", daemon.Vms[1].LastError);
        Assert.Single(a.BalloonRequests);
        Assert.Empty(twin.BalloonRequests);
    }

    [Fact]
    public void Hot_add_raises_virtio_mems_requested_size_in_whole_blocks_up_to_its_maximum()
    {
        var vm = new FakeVm("a", 1024 * Mib) { VirtioMem = new VirtioMemReading("vm0", 0, 0, 512 * Mib, 2 * Mib) };
        IReadOnlyList<PolicyAction> Add(long mib) => [new PolicyAction(PolicyActionKind.HotAdd, "a", mib * Mib / 4096 + 1)];
        var daemon = Daemon(new ScriptedPolicy(Add(100), Add(600)), new DaemonOptions(), new StringWriter(), vm);
        var first = Assert.Single(daemon.Step());
        // 100 MiB and a page, in 2 MiB blocks: 102 MiB.
        Assert.Equal((ActionResult.Applied, 102.0 * Mib), (first.Result, first.Set));
        var second = Assert.Single(daemon.Step());
        Assert.Equal((ActionResult.Clamped, 512.0 * Mib), (second.Result, second.Set));
        Assert.Contains("device's maximum, 512 MiB", second.Reason);
        Assert.Equal(512 * Mib, vm.VirtioMem!.RequestedBytes);
    }

    [Fact]
    public void Before_a_guest_sends_statistics_only_a_configured_floor_lets_it_be_ballooned_down()
    {
        var vm = new FakeVm("a", 1024 * Mib) { SendsStats = false };
        var down = PolicyAction.MemSet("a", 512 * Mib / 4096);
        var refused = Assert.Single(Daemon(new ScriptedPolicy([down]), new DaemonOptions(), new StringWriter(), vm).Step());
        Assert.Equal(ActionResult.Refused, refused.Result);
        Assert.Contains("no statistics", refused.Reason);
        Assert.Empty(vm.BalloonRequests);
        var applied = Assert.Single(Daemon(new ScriptedPolicy([down]), new DaemonOptions { FloorBytes = 256 * Mib, MaxStepBytes = 1024 * Mib }, new StringWriter(), vm).Step());
        Assert.Equal(ActionResult.Applied, applied.Result);
        Assert.Equal([512 * Mib], vm.BalloonRequests);
    }

    [Fact]
    public void A_balloon_that_does_not_move_is_stuck_its_request_taken_back_left_alone_and_freed_when_it_moves()
    {
        var vm = new FakeVm("a", 1024 * Mib) { Speed = 0 };
        var squeezed = new SqueezedPolicy(new SqueezedOptions { StuckAfter = 100, UncooperativeAfter = 100 }, 1_000_000_000);
        var log = new StringWriter();
        var daemon = Daemon(squeezed, new DaemonOptions { HostMemoryBytes = 600 * Mib, StuckAfter = 2 }, log, vm);
        daemon.Step();
        Assert.Single(vm.BalloonRequests);
        daemon.Step();
        daemon.Step();
        Assert.True(daemon.Vms[0].Stuck);
        Assert.Contains("\"event\":\"stuck\"", log.ToString());
        // The request it did not carry out is taken back: its target is what it holds.
        // (squeezed saw no free memory, its 64 MiB reserve to find and the VM's 1024: 960 MiB for it.)
        Assert.Equal([960 * Mib, 1024 * Mib], vm.BalloonRequests);
        var snapshot = SnapshotBuilder.Build(daemon.Vms, null, null, daemon.Options, 0);
        Assert.True(snapshot.Domains[0].Uncooperative);
        for (int i = 0; i < 3; i++) daemon.Step();
        Assert.Equal(2, vm.BalloonRequests.Count);
        // The guest moves on its own (its balloon deflated on OOM, or a driver came): it is freed.
        vm.ActualBytes = 900 * Mib;
        vm.TargetBytesOverride(900 * Mib);
        daemon.Step();
        Assert.False(daemon.Vms[0].Stuck);
        Assert.Contains("\"event\":\"moving\"", log.ToString());
    }

    [Fact]
    public void A_VM_started_again_is_a_new_VM_to_the_rules_and_names_stay_unique()
    {
        var first = new FakeVm("web", 1024 * Mib) { Speed = 0 };
        var second = new FakeVm("web", 1024 * Mib);
        var third = new FakeVm("web-2", 1024 * Mib);
        var log = new StringWriter();
        var daemon = Daemon(new ScriptedPolicy([PolicyAction.MemSet("web", 900 * Mib / 4096)]), new DaemonOptions { StuckAfter = 1 }, log, first, second, third);
        daemon.Step();
        Assert.Equal(["web", "web-2", "web-2-3"], daemon.Vms.Select(v => v.Name));
        daemon.Step();
        Assert.True(daemon.Vms[0].Stuck);
        first.Incarnation = "pid 2";
        daemon.Step();
        Assert.False(daemon.Vms[0].Stuck);
        Assert.Null(daemon.Vms[0].TargetBytes);
        Assert.Contains("\"event\":\"restarted\"", log.ToString());
    }

    [Fact]
    public void A_VM_that_stops_answering_keeps_its_memory_counted_gets_no_requests_and_is_found_again()
    {
        var a = new FakeVm("a", 1024 * Mib);
        var b = new FakeVm("b", 1024 * Mib);
        var policy = new ScriptedPolicy([], [PolicyAction.MemSet("b", 512 * Mib / 4096)], [PolicyAction.MemSet("b", 512 * Mib / 4096)]);
        var log = new StringWriter();
        var daemon = Daemon(policy, new DaemonOptions { HostMemoryBytes = 4096 * Mib, MaxStepBytes = 1024 * Mib }, log, a, b);
        daemon.Step();
        b.Answers = false;
        var refused = Assert.Single(daemon.Step());
        Assert.Equal(ActionResult.Refused, refused.Result);
        Assert.Contains("does not answer", refused.Reason);
        Assert.Equal(2048 * Mib / 4096, policy.Seen[1].TotalPages - policy.Seen[1].FreePages);
        Assert.True(policy.Seen[1].Domains.Single(d => d.Name == "b").Uncooperative);
        b.Answers = true;
        Assert.Equal(ActionResult.Applied, Assert.Single(daemon.Step()).Result);
        Assert.Contains("\"event\":\"unresponsive\"", log.ToString());
        Assert.Contains("\"event\":\"answering\"", log.ToString());
    }

    [Fact]
    public void Actions_a_QEMU_host_cannot_carry_out_are_reported_not_faked_and_a_dry_run_sets_nothing()
    {
        var vm = new FakeVm("a", 1024 * Mib);
        var policy = new ScriptedPolicy([new PolicyAction(PolicyActionKind.PagingTarget, "a", 1000), new PolicyAction(PolicyActionKind.HotAdd, "a", 1000),
            PolicyAction.MemSet("a", 900 * Mib / 4096), PolicyAction.MemSet("nobody", 1)]);
        var outcomes = Daemon(policy, new DaemonOptions { DryRun = true }, new StringWriter(), vm).Step();
        Assert.Equal([ActionResult.Unsupported, ActionResult.Unsupported, ActionResult.DryRun, ActionResult.Refused], outcomes.Select(o => o.Result));
        Assert.Contains("no hypervisor paging", outcomes[0].Reason);
        Assert.Contains("no virtio-mem", outcomes[1].Reason);
        Assert.Empty(vm.BalloonRequests);
    }

    [Fact]
    public void The_snapshot_maps_a_VMs_balloon_and_statistics_to_pages_and_a_budget_to_free_memory()
    {
        var r = new VmReading
        {
            Name = "a", HasBalloon = true, ActualBytes = 512 * Mib, BaseBytes = 1024 * Mib, StatsSeen = true,
            Stats = new Dictionary<string, long> { ["stat-available-memory"] = 200 * Mib, ["stat-free-memory"] = 150 * Mib, ["stat-total-memory"] = 480 * Mib, ["stat-major-faults"] = 7, ["stat-swap-in"] = 8 * Mib },
        };
        var state = new VmState(new FakeVm("a", 1024 * Mib)) { Name = "a", Last = r, TargetBytes = 500 * Mib };
        var options = new DaemonOptions { HostMemoryBytes = 768 * Mib, HeadroomBytes = 32 * Mib };
        state.FloorBytes = SnapshotBuilder.FloorBytes(r, options);
        var host = SnapshotBuilder.Build([state], null, null, options, 5);
        Assert.Equal(768 * 256, host.TotalPages);
        Assert.Equal(256 * 256, host.FreePages);
        var d = Assert.Single(host.Domains);
        Assert.Equal((512, 500, 1024, 344, 1024, 200, 150), (d.TotPages / 256, d.TargetPages / 256, d.StaticMaxPages / 256, d.DynamicMinPages / 256, d.DynamicMaxPages / 256, d.MemAvailablePages / 256, d.MemFreePages / 256));
        Assert.Equal((280L, 32L, 7L, 2048L), (d.CommittedAsPages / 256, d.FloorPages / 256, d.MajorFaults, d.SwapIns));
        Assert.Null(SnapshotCheck.FirstProblem(host));
        // A budget below what the VMs hold is no free memory, never negative.
        Assert.Equal(0, SnapshotBuilder.Build([state], null, null, options with { HostMemoryBytes = 256 * Mib }, 5).FreePages);
    }

    [Fact]
    public void Meminfo_KSM_and_a_process_RSS_are_read_from_their_files()
    {
        var dir = Directory.CreateTempSubdirectory("memvisor-host-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "meminfo"), "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\nBuffers: 5 kB\n");
            Assert.Equal(new MemInfo(16384000L * 1024, 1000000L * 1024, 8000000L * 1024), MemInfo.Read(Path.Combine(dir, "meminfo")));
            File.WriteAllText(Path.Combine(dir, "bad"), "MemTotal: lots\n");
            Assert.Contains("MemTotal", Assert.Throws<InvalidDataException>(() => MemInfo.Read(Path.Combine(dir, "bad"))).Message);
            var ksm = Path.Combine(dir, "ksm");
            Directory.CreateDirectory(ksm);
            foreach (var (f, v) in new[] { ("run", "0"), ("pages_to_scan", "100"), ("sleep_millisecs", "20"), ("pages_shared", "3"), ("pages_sharing", "9") })
                File.WriteAllText(Path.Combine(ksm, f), v + "\n");
            var k = new Ksm(ksm);
            Assert.Equal(0, k.Read()!.PagesPerSecond);
            k.SetRate(12_500);
            Assert.Equal(("1", "250"), (File.ReadAllText(Path.Combine(ksm, "run")), File.ReadAllText(Path.Combine(ksm, "pages_to_scan"))));
            Assert.Equal(12_500, k.Read()!.PagesPerSecond);
            k.SetRate(0);
            Assert.False(k.Read()!.Running);
            Assert.Null(new Ksm(Path.Combine(dir, "none")).Read());
            Assert.True(ProcessMemory.ResidentBytes(Environment.ProcessId) > 1 << 20);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Metrics_follow_the_exposition_format()
    {
        var vm = new FakeVm("a \"quoted\"", 1024 * Mib);
        var daemon = Daemon(new ScriptedPolicy([PolicyAction.MemSet("a \"quoted\"", 900 * Mib / 4096)]), new DaemonOptions(), new StringWriter(), vm);
        daemon.Step();
        string text = daemon.Metrics.Render();
        Assert.Contains("memvisor_vm_actual_bytes{vm=\"a \\\"quoted\\\"\"} 1073741824\n", text);
        Assert.Contains("memvisor_actions_total{kind=\"mem-set\",result=\"applied\"} 1\n", text);
        Assert.Contains("memvisor_steps_total 1\n", text);
        // Every sample line is NAME{labels} VALUE, every family has its HELP and TYPE first.
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')))
        {
            Assert.Matches(@"^[a-z_]+(\{.*\})? -?[0-9.eE+-]+$", line);
            Assert.Contains($"# TYPE {line.Split('{', ' ')[0]} ", text);
        }
    }

    /// <summary>
    /// Over random VMs (sizes, use, balloon speed, answering or not), options and random actions a step, the rules
    /// hold: no target below the floor unless it is above what the VM holds, none above what it can hold, none more
    /// than a step from what it holds; no request to a stuck or unresponsive VM but the one that takes back a stuck
    /// VM's target; nothing at all in a dry run.
    /// </summary>
    [Fact]
    public void Safety_rules_hold_over_random_VMs_and_actions()
    {
        var gen =
            from count in Gen.Choose(1, 3)
            from sizes in Gen.Choose(128, 2048).ArrayOf(count)
            from used in Gen.Choose(16, 1024).ArrayOf(count)
            from speed in Gen.Elements(0L, 8L, 64L, 4096L).ArrayOf(count)
            from floor in Gen.Elements(0, 64, 256)
            from step in Gen.Elements(16, 128, 1024)
            from dry in Gen.Frequency((1, Gen.Constant(true)), (4, Gen.Constant(false)))
            from plan in Gen.Choose(0, count - 1).Zip(Gen.Choose(0, 3000)).ListOf().ListOf()
            from outages in Gen.Choose(-1, count - 1).ArrayOf(12)
            select (sizes, used, speed, floor, step, dry, plan, outages);
        Properties.Check(gen, c =>
        {
            var (sizes, used, speed, floor, step, dry, plan, outages) = c;
            var vms = sizes.Select((s, i) => new FakeVm($"vm{i}", s * Mib) { UsedBytes = Math.Min(used[i], s) * Mib, Speed = speed[i] * Mib }).ToArray();
            var policy = new ScriptedPolicy([.. plan.Select(p => (IReadOnlyList<PolicyAction>)[.. p.Select(a => PolicyAction.MemSet($"vm{a.Item1}", a.Item2 * Mib / 4096))])]);
            var options = new DaemonOptions { FloorBytes = floor * Mib, MaxStepBytes = step * Mib, DryRun = dry, StuckAfter = 2 };
            var daemon = Daemon(policy, options, new StringWriter(), vms);
            for (int s = 0; s < Math.Min(12, plan.Count + 2); s++)
            {
                foreach (var v in vms) v.Answers = true;
                if (outages[s] >= 0) vms[outages[s]].Answers = false;
                var before = daemon.Vms.Select(v => (v.Stuck, v.Unresponsive, Actual: v.Last?.ActualBytes, v.FloorBytes)).ToArray();
                var requests = vms.Select(v => v.BalloonRequests.Count).ToArray();
                daemon.Step();
                for (int i = 0; i < vms.Length; i++)
                {
                    var state = daemon.Vms[i];
                    var made = vms[i].BalloonRequests.Skip(requests[i]).ToList();
                    if (dry || state.Unresponsive || state.Stuck && before[i].Stuck) Assert.Empty(made);
                    // Marked stuck this step: its one request takes back what it did not carry out (its target becomes what it holds).
                    else if (state.Stuck) Assert.All(made, t => Assert.Equal(state.Last!.ActualBytes, t));
                    foreach (var t in state.Stuck ? [] : made)
                    {
                        long actual = state.Last!.ActualBytes;
                        Assert.True(t >= state.FloorBytes || t > actual, $"target {t / Mib} below the floor {state.FloorBytes / Mib} and what vm{i} holds, {actual / Mib}");
                        Assert.True(t <= sizes[i] * Mib, $"target {t / Mib} above vm{i}'s {sizes[i]} MiB");
                        Assert.True(Math.Abs(t - actual) <= step * Mib, $"target {t / Mib} more than {step} MiB from {actual / Mib}");
                    }
                }
            }
        }, maxTest: 200);
    }
}
