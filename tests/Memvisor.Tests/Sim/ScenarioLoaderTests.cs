using Memvisor.Hypervisor.Personalities;
using Memvisor.Machine.Frames;
using Memvisor.Hypervisor.Mmu;
using Memvisor.Sim.Scenarios;

using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

public class ScenarioLoaderTests
{
    private const string Good = """
        name: t
        seed: 1
        duration: 10s
        host:
          memory: 1GiB
          dom0: { memory: 256MiB }
        domains:
          - name: a
            memory: 128MiB
            maxmem: 256MiB
            workload: { kind: steady, working_set: 64MiB, rate: 1000/s }
        events:
          - { at: 5s, action: mem-set, domain: a, memory: 200MiB }
        """;

    private static ScenarioError Refused(string yaml) => ScenarioRefusal.Single(yaml);

    [Fact]
    public void A_good_scenario_loads_with_its_units_converted()
    {
        var s = ScenarioLoader.Parse(Good, "t.yaml");
        Assert.Equal(10_000_000_000, s.DurationNs);
        Assert.Equal(256L << 20, s.Domains[0].MaxMemBytes);
        Assert.Equal(16384, s.Domains[0].Workload.WorkingSetPages);
        Assert.Equal(ActionKind.MemSet, s.Events[0].Action);
    }

    [Fact]
    public void Every_builtin_scenario_is_valid()
    {
        Assert.Contains(BuiltinScenarios.DefaultName, BuiltinScenarios.Names);
        foreach (var name in BuiltinScenarios.Names) Assert.NotNull(BuiltinScenarios.Load(name));
    }

    [Fact]
    public void An_unknown_key_is_refused_with_its_line_and_field()
    {
        var e = Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    colour: blue"));
        Assert.Equal("t.yaml", e.File);
        Assert.Equal(11, e.Line);
        Assert.Equal("domains[0].colour", e.Field);
        Assert.Contains("not a known key", e.Message);
    }

    [Fact]
    public void A_bad_unit_is_refused_with_its_line_and_field()
    {
        var e = Refused(Good.Replace("memory: 128MiB", "memory: 128XB"));
        Assert.Equal(9, e.Line);
        Assert.Equal("domains[0].memory", e.Field);
        Assert.Contains("'128XB' is not a size", e.Message);
    }

    [Fact]
    public void Maxmem_below_memory_is_refused()
    {
        var e = Refused(Good.Replace("maxmem: 256MiB", "maxmem: 64MiB"));
        Assert.Equal("domains[0].maxmem", e.Field);
        Assert.Equal(10, e.Line);
    }

    [Fact]
    public void Static_domains_that_cannot_fit_are_refused_naming_the_first_that_does_not()
    {
        var e = Refused(Good.Replace("  - name: a\n", "  - name: a\n    count: 7\n").Replace("events:\n  - { at: 5s, action: mem-set, domain: a, memory: 200MiB }", ""));
        Assert.Equal("domains[0].memory", e.Field);
        Assert.StartsWith("a-6 does not fit", e.Message);
    }

    [Fact]
    public void The_mmu_mode_and_its_options_load_and_a_pv_domain_does_not_share_by_default()
    {
        var s = ScenarioLoader.Parse(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    mmu: shadow3\n    mmu_options: { tlb_entries: 64, tagged_tlb: false, oos_limit: 8 }"), "t.yaml");
        var mmu = s.Domains[0].Mmu;
        Assert.Equal((MmuMode.Shadow3, 64, false, 8), (mmu.Mode, mmu.TlbEntries, mmu.TaggedTlb, mmu.OosLimit));
        // An HVM domain that says nothing shares where the hypervisor shares by default (KVM's KSM), not on Xen (nominated pages only).
        Assert.Null(s.Domains[0].Sharing);
        Assert.True(s.Domains[0].SharingOn(Memvisor.Hypervisor.Personalities.HostPersonality.Kvm));
        Assert.False(s.Domains[0].SharingOn(Memvisor.Hypervisor.Personalities.HostPersonality.Xen));
        var pv = ScenarioLoader.Parse(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    mmu: pv"), "t.yaml");
        Assert.Equal(MmuMode.Pv, pv.Domains[0].Mmu.Mode);
        Assert.False(pv.Domains[0].Sharing);
        Assert.False(pv.Domains[0].SharingOn(Memvisor.Hypervisor.Personalities.HostPersonality.Xen));
        Assert.Equal(MmuMode.Hap, ScenarioLoader.Parse(Good, "t.yaml").Domains[0].Mmu.Mode);
    }

    [Theory]
    [InlineData("mmu: ept", "domains[0].mmu", "'ept' is not one of pv, shadow2, shadow3, hap")]
    [InlineData("mmu_options: { tlb_entries: 1000 }", "domains[0].mmu_options.tlb_entries", "1000 is not a power of two")]
    [InlineData("mmu: pv\n    sharing: true", "domains[0].sharing", "page sharing needs an HVM domain")]
    [InlineData("mmu: pv\n    allocation: on-demand", "domains[0].allocation", "populate-on-demand needs an HVM domain")]
    [InlineData("mmu: pv\n    paging: { target: 64MiB }", "domains[0].paging", "hypervisor paging needs an HVM domain")]
    [InlineData("mmu: pv\n    videoram: 8MiB", "domains[0].videoram", "emulated video RAM needs an HVM domain")]
    [InlineData("videoram: 100MiB", "domains[0].videoram", "at most half of memory")]
    public void A_bad_mmu_setting_is_refused_naming_its_field(string lines, string field, string message)
    {
        var e = Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    " + lines));
        Assert.Equal(field, e.Field);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_display_workload_needs_videoram()
    {
        const string display = "workload: { kind: display, rate: 100/s, phases: [{ working_set: 1MiB, duration: 1s }] }";
        var e = Refused(Good.Replace("workload: { kind: steady, working_set: 64MiB, rate: 1000/s }", display));
        Assert.Equal("domains[0].workload", e.Field);
        Assert.Contains("give the domain videoram", e.Message);
        var s = ScenarioLoader.Parse(Good.Replace("workload: { kind: steady, working_set: 64MiB, rate: 1000/s }", display + "\n    videoram: 4MiB"), "t.yaml");
        Assert.Equal(1024, s.Domains[0].Guest.VideoRamPages);
    }

    [Fact]
    public void A_missing_or_non_elf_image_is_refused_at_its_field_and_a_raw_one_must_say_so()
    {
        string dir = Directory.CreateTempSubdirectory("memvisor-image-").FullName;
        string notElf = Path.Combine(dir, "mem.raw");
        File.WriteAllBytes(notElf, new byte[8192]);
        string With(string image) => Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    image: " + image);

        var missing = Refused(With(Path.Combine(dir, "nowhere.elf")));
        Assert.Equal(("domains[0].image", 11), (missing.Field, missing.Line));
        Assert.Contains("does not exist", missing.Message);
        var raw = Refused(With(notElf));
        Assert.Equal("domains[0].image", raw.Field);
        Assert.Contains("not an ELF core", raw.Message);
        var format = Refused(With($"{{ path: {notElf}, format: vmdk }}"));
        Assert.Equal("domains[0].image.format", format.Field);

        var s = ScenarioLoader.Parse(With($"{{ path: {notElf}, format: raw }}"), Path.Combine(dir, "t.yaml"));
        Assert.Equal(new Memvisor.Guest.Images.MemoryImageSpec(notElf, "raw"), s.Domains[0].Guest.Image);
    }

    [Fact]
    public void Malformed_yaml_is_refused_with_a_position()
    {
        var e = Refused("name: t\nhost: { memory: 1GiB\n");
        Assert.Equal("(syntax)", e.Field);
        Assert.True(e.Line >= 2);
    }

    [Fact]
    public void An_action_on_an_unknown_domain_is_refused()
    {
        var e = Refused(Good.Replace("domain: a,", "domain: b,"));
        Assert.Equal(13, e.Line);
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public void A_restart_names_a_guest_and_takes_no_memory()
    {
        var s = ScenarioLoader.Parse(Good.Replace("action: mem-set, domain: a, memory: 200MiB", "action: restart, domain: a"), "t.yaml");
        Assert.Equal(ActionKind.Restart, s.Events[0].Action);
        var dom0 = Refused(Good.Replace("action: mem-set, domain: a, memory: 200MiB", "action: restart, domain: dom0"));
        Assert.Equal("events[0].domain", dom0.Field);
        Assert.Contains("dom0 restarts with the host", dom0.Message);
        var memory = Refused(Good.Replace("action: mem-set, domain: a,", "action: restart, domain: a,"));
        Assert.Equal("events[0].memory", memory.Field);
        var many = Refused(Good.Replace("  - name: a\n", "  - name: a\n    count: 2\n").Replace("action: mem-set, domain: a, memory: 200MiB", "action: restart, domain: a"));
        Assert.Contains("restart one of them (a-1 .. a-2)", many.Message);
    }

    [Fact]
    public void Guest_settings_and_the_new_workload_kinds_load()
    {
        var s = ScenarioLoader.Parse(Good.Replace(
            "workload: { kind: steady, working_set: 64MiB, rate: 1000/s }",
            """
            guest: { swap: 1GiB, kernel_image: debian-12, swappiness: 100, dirty_expire: 10s }
                workload:
                  kind: mix
                  parts:
                    - { kind: zipf, working_set: 300MiB, rate: 5000/s, skew: 1.2 }
                    - { kind: phases, rate: 100/s, phases: [ { working_set: 8MiB, duration: 1s }, { working_set: 16MiB, duration: 2s } ] }
                    - { kind: grow-shrink, from: 8MiB, to: 64MiB, period: 1min }
                    - { kind: fork-exec, spawn_rate: 3/s, lifetime: 5s, working_set: 4MiB }
                    - { kind: file-streaming, file_size: 1GiB, rate: 2000/s }
            """), "t.yaml");
        var d = s.Domains[0];
        Assert.Equal(262144, d.Guest.SwapPages);
        Assert.Equal("debian-12", d.Guest.KernelImage);
        Assert.Equal(100, d.Guest.Swappiness);
        Assert.Equal(10_000_000_000, d.Guest.DirtyExpireNs);
        Assert.Equal(["zipf", "phases", "grow-shrink", "fork-exec", "file-streaming"], d.Workload.Parts.Select(p => p.Kind));
        Assert.Equal(1.2, d.Workload.Parts[0].Skew);
        Assert.Equal(2_000_000_000, d.Workload.Parts[1].Phases[1].DurationNs);
        Assert.Equal(60_000_000_000, d.Workload.Parts[2].OverNs);
        Assert.Equal(3, d.Workload.Parts[3].SpawnsPerSecond);
        Assert.Equal(262144, d.Workload.Parts[4].FilePages);
    }

    [Fact]
    public void A_trace_that_does_not_exist_is_refused_at_its_path()
    {
        var e = Refused(Good.Replace("{ kind: steady, working_set: 64MiB, rate: 1000/s }", "{ kind: trace, path: no-such.lackey, loop: true }"));
        Assert.Equal(11, e.Line);
        Assert.Equal("domains[0].workload.path", e.Field);
        Assert.Contains("there is no trace file at", e.Message);
    }

    [Fact]
    public void A_workload_missing_what_its_kind_needs_is_refused()
    {
        var e = Refused(Good.Replace("{ kind: steady, working_set: 64MiB, rate: 1000/s }", "{ kind: fork-exec, spawn_rate: 1/s, lifetime: 3s }"));
        Assert.Equal("domains[0].workload.working_set", e.Field);
        Assert.Equal("a fork-exec workload needs 'working_set'.", e.Message);
    }

    [Fact]
    public void Overcommit_mechanism_keys_load_and_bad_values_are_refused_by_field()
    {
        var s = ScenarioLoader.Parse(Good.Replace("  dom0: { memory: 256MiB }", """
              dom0: { memory: 256MiB }
              sharing: { scan_rate: 2000/s, max_page_sharing: 128 }
              paging: { policy: random, swap_size: 1GiB }
              compression: { codec: zstd, cache: 5% }
              tmem: { dedup: true, reserve: 32MiB }
            """).Replace("    maxmem: 256MiB", """
                maxmem: 256MiB
                sharing: false
                paging: { target: 100MiB }
                tmem: true
            """), "t.yaml");
        var o = s.Host.Overcommit;
        Assert.True(o.Sharing.Enabled && o.Compression.Enabled && o.Tmem.Enabled);
        Assert.Equal(2000, o.Sharing.ScanRatePagesPerSecond);
        Assert.Equal(128, o.Sharing.MaxPageSharing);
        Assert.Equal(Memvisor.Hypervisor.Paging.EvictionPolicy.Random, o.Paging.Policy);
        Assert.Equal(262_144, o.Paging.SwapPages);
        Assert.Equal(Memvisor.Hypervisor.Compression.CompressionCodec.Zstd, o.Compression.Codec);
        Assert.Equal(0.05, o.Compression.CacheShare, 6);
        Assert.Equal(8192, o.Tmem.ReservePages);
        var a = s.Domains[0];
        Assert.False(a.Sharing);
        Assert.Equal(100L << 20, a.PagingTargetBytes);
        Assert.True(a.Guest.Tmem);
        var kvm = ScenarioLoader.Parse(Good.Replace("  dom0: { memory: 256MiB }", "  hypervisor: kvm\n  dom0: { memory: 256MiB }")
            .Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    free_page_reporting: true"), "t.yaml");
        Assert.True(kvm.Domains[0].Guest.FreePageReporting);
        // large_pages sets how a first touch is backed: ESX and KVM only, and it overrides their default (on).
        Assert.Null(kvm.Host.Overcommit.LargePages);
        var esxSmall = ScenarioLoader.Parse(Good.Replace("  dom0: { memory: 256MiB }", "  hypervisor: esx\n  large_pages: false\n  dom0: { memory: 256MiB }"), "t.yaml");
        Assert.False(esxSmall.Host.Overcommit.LargePages);
        var xenLarge = Refused(Good.Replace("  dom0: { memory: 256MiB }", "  large_pages: true\n  dom0: { memory: 256MiB }"));
        Assert.Equal("host.large_pages", xenLarge.Field);
        Assert.Contains("ESX and KVM", xenLarge.Message);
        // ESX gives each VM a swap file of its configured memory less its reservation; Xen's swapping has no per-VM limit.
        var esxVm = ScenarioLoader.Parse(Good.Replace("  dom0: { memory: 256MiB }", "  hypervisor: esx\n  dom0: { memory: 256MiB }").Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    reservation: 64MiB"), "t.yaml");
        Assert.Equal(PageSize.FromBytes(192L << 20), ScenarioLoader.ToConfig(esxVm.Domains[0], "a", HostPersonality.Esx).SwapLimitPages);
        Assert.Null(ScenarioLoader.ToConfig(esxVm.Domains[0], "a", HostPersonality.Xen).SwapLimitPages);

        var codec = Refused(Good.Replace("  dom0: { memory: 256MiB }", "  dom0: { memory: 256MiB }\n  compression: { codec: brotli }"));
        Assert.Equal("host.compression.codec", codec.Field);
        Assert.Contains("brotli", codec.Message);
        var cache = Refused(Good.Replace("  dom0: { memory: 256MiB }", "  dom0: { memory: 256MiB }\n  compression: { cache: 150% }"));
        Assert.Equal("host.compression.cache", cache.Field);
        var action = Refused(Good.Replace("action: mem-set, domain: a, memory: 200MiB", "action: paging-target, domain: a"));
        Assert.Equal("events[0].memory", action.Field);
    }

    [Fact]
    public void Balloon_selfballoon_and_hotplug_keys_load_and_bad_values_are_refused_by_field()
    {
        var s = ScenarioLoader.Parse(Good.Replace("    maxmem: 256MiB", """
                maxmem: 256MiB
                balloon: { rate: 64MiB/s, floor: 48MiB }
                selfballoon: { interval: 2s, downhysteresis: 4, uphysteresis: 2, reserve: 16MiB, min_usable: 32MiB }
                hotplug: { block: 32MiB, rate: 4/s }
            """) + "\n  - { at: 6s, action: hot-add, domain: a, memory: 64MiB }\n  - { at: 7s, action: hot-remove, domain: a, memory: 32MiB }", "t.yaml");
        var g = s.Domains[0].Guest;
        Assert.True(g.Balloon.Enabled);
        Assert.Equal(16384, g.Balloon.RatePagesPerSecond);
        Assert.Equal(12288, g.Balloon.FloorPages);
        Assert.True(g.SelfBalloon.Enabled);
        Assert.Equal(2_000_000_000, g.SelfBalloon.IntervalNs);
        Assert.Equal((4, 2, 4096L, 8192L), (g.SelfBalloon.DownHysteresis, g.SelfBalloon.UpHysteresis, g.SelfBalloon.ReservePages, g.SelfBalloon.MinUsablePages));
        Assert.True(g.Hotplug.Enabled);
        Assert.Equal(8192, g.Hotplug.BlockPages);
        Assert.Equal(4, g.Hotplug.BlocksPerSecond);
        Assert.Equal([ActionKind.MemSet, ActionKind.HotAdd, ActionKind.HotRemove], s.Events.Select(e => e.Action));

        var rate = Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    balloon: { rate: fast }"));
        Assert.Equal("domains[0].balloon.rate", rate.Field);
        var block = Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    hotplug: { block: 3MiB }"));
        Assert.Equal("domains[0].hotplug.block", block.Field);
        var room = Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 128MiB\n    hotplug: { enabled: true }").Replace("memory: 200MiB", "memory: 100MiB"));
        Assert.Equal("domains[0].hotplug", room.Field);
        Assert.Contains("maxmem", room.Message);
        var noHotplug = Refused(Good + "\n  - { at: 6s, action: hot-add, domain: a, memory: 64MiB }");
        Assert.Equal("events[1].domain", noHotplug.Field);
        Assert.Contains("hot-pluggable", noHotplug.Message);
    }

    [Fact]
    public void Policy_and_dynamic_range_keys_load_and_bad_ones_are_refused_by_field()
    {
        var s = ScenarioLoader.Parse(Good.Replace("host:", "policy: { name: squeezed, interval: 5s, reserve: 32MiB, stuck_after: 3, uncooperative_after: 6 }\nhost:")
            .Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    dynamic_min: 64MiB\n    dynamic_max: 192MiB"), "t.yaml");
        Assert.Equal("squeezed", s.Policy!.Name);
        Assert.Equal(5_000_000_000, s.Policy.IntervalNs);
        Assert.Equal((8192L, 3, 6), (s.Policy.Squeezed.ReservePages, s.Policy.Squeezed.StuckAfter, s.Policy.Squeezed.UncooperativeAfter));
        Assert.Equal((64L << 20, 192L << 20), (s.Domains[0].DynamicMinBytes, s.Domains[0].DynamicMaxBytes));

        var name = Refused(Good.Replace("host:", "policy: { name: drs }\nhost:"));
        Assert.Equal("policy.name", name.Field);
        Assert.Contains("squeezed", name.Message);
        var foreign = Refused(Good.Replace("host:", "policy: { name: static, reserve: 32MiB }\nhost:"));
        Assert.Equal("policy.reserve", foreign.Field);
        var mom = ScenarioLoader.Parse(Good.Replace("host:", "policy: { name: mom, pressure_threshold: 25%, max_change: 0.1 }\nhost:"), "t.yaml");
        Assert.Equal((0.25, 0.1), (mom.Policy!.Mom.PressureThreshold, mom.Policy.Mom.MaxChange));
        var momOnSqueezed = Refused(Good.Replace("host:", "policy: { name: squeezed, max_change: 10% }\nhost:"));
        Assert.Equal("policy.max_change", momOnSqueezed.Field);
        Assert.Contains("mom", momOnSqueezed.Message);
        var range = Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    dynamic_min: 200MiB\n    dynamic_max: 100MiB"));
        Assert.Equal("domains[0].dynamic_min", range.Field);
        var above = Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    dynamic_max: 300MiB"));
        Assert.Equal("domains[0].dynamic_max", above.Field);
    }

    [Fact]
    public void Esx_and_hyperv_settings_load_and_are_checked_against_each_other()
    {
        var s = ScenarioLoader.Parse(Good.Replace("host:", "policy: { name: esx, idle_tax: 50%, sample_period: 5s, sample_size: 64 }\nhost:")
            .Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    shares: 2000\n    reservation: 64MiB\n    limit: 192MiB"), "t.yaml");
        Assert.Equal(0.5, s.Policy!.Esx.IdleTax);
        Assert.Equal((5_000_000_000L, 64), (s.Policy.Activity.PeriodNs, s.Policy.Activity.SampleSize));
        Assert.Equal((2000L, 64L << 20, 192L << 20), (s.Domains[0].Shares, s.Domains[0].ReservationBytes, s.Domains[0].LimitBytes));

        // Hyper-V: startup is the boot memory; with no maxmem the maximum is how far the domain may grow.
        var h = ScenarioLoader.Parse(Good.Replace("host:", "policy: { name: hyperv, reserve: 32MiB }\nhost:")
            .Replace("    memory: 128MiB\n    maxmem: 256MiB", "    startup: 128MiB\n    minimum: 64MiB\n    maximum: 512MiB\n    buffer: 30\n    weight: 8000"), "t.yaml");
        Assert.Equal((128L << 20, 512L << 20), (h.Domains[0].MemoryBytes, h.Domains[0].MaxMemBytes));
        Assert.Equal((64L << 20, 30, 8000), (h.Domains[0].MinimumBytes, h.Domains[0].BufferPercent, h.Domains[0].Weight));
        Assert.Equal(8192, h.Policy!.HyperV.ReservePages);

        Assert.Equal("domains[0].reservation", Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    reservation: 200MiB\n    limit: 100MiB")).Field);
        Assert.Equal("domains[0].startup", Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    startup: 128MiB")).Field);
        Assert.Equal("domains[0].minimum", Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    minimum: 200MiB")).Field);
        Assert.Equal("domains[0].buffer", Refused(Good.Replace("    maxmem: 256MiB", "    maxmem: 256MiB\n    buffer: 3000")).Field);
        Assert.Equal("policy.idle_tax", Refused(Good.Replace("host:", "policy: { name: mom, idle_tax: 75% }\nhost:")).Field);
    }

    [Fact]
    public void Two_domains_of_one_name_are_refused_even_when_one_has_a_count()
    {
        var twice = Refused(Good.Replace("  - name: a\n", "  - name: a\n    count: 2\n    memory: 64MiB\n    workload: { kind: steady, working_set: 8MiB, rate: 10/s }\n  - name: a\n"));
        Assert.Equal("domains[1].name", twice.Field);
        Assert.Contains("'a' is already taken", twice.Message);
    }
}
