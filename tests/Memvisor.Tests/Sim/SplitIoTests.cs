using Memvisor.Hypervisor.Accounting;
using Memvisor.Machine.Frames;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;
using Memvisor.Sim.Summary;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Sim;

/// <summary>I/O through Xen's split drivers (blkfront and blkback, netfront and netback, the grant table): what it costs and that the bytes arrive.</summary>
public class SplitIoTests
{

    [Fact]
    public void Disk_requests_map_once_each_or_once_for_good_and_network_pages_arrive_by_copy_or_flip()
    {
        var sim = new Simulation(BuiltinScenarios.Load("split-io"));
        var r = sim.Run();
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.True(r.Summary.Integrity.VerifiedReads > 10_000, $"{r.Summary.Integrity.VerifiedReads} reads checked");
        Assert.Empty(Auditor.Check(sim.Host));
        var direct = r.Summary.Domains.Single(d => d.Name == "direct");
        var pv = r.Summary.Domains.Single(d => d.Name == "pv").Block!;
        var persistent = r.Summary.Domains.Single(d => d.Name == "persistent").Block!;
        Assert.Null(direct.Block);
        // Without persistent grants: the ring once, then a grant, a map and an unmap per request.
        long pvRequests = pv.Reads + pv.Writes;
        Assert.True(pv.Reads > 1_000 && pv.Writes > 100, $"pv: {pv.Reads} reads, {pv.Writes} writes");
        Assert.Equal((0L, pvRequests + 1, pvRequests + 1, pvRequests), (pv.Errors, pv.GrantsIssued, pv.BackendMaps, pv.BackendUnmaps));
        Assert.Equal((pvRequests, pvRequests), (pv.FrontendNotifies, pv.BackendNotifies));
        Assert.Equal(0, pv.PersistentCopies);
        // With them: the ring and the 352-page pool are granted and mapped once; every request is a copy instead.
        long persistentRequests = persistent.Reads + persistent.Writes;
        Assert.True(persistentRequests > 1_000, $"{persistentRequests} requests");
        Assert.Equal((0L, 353L, 353L, 0L, 353L), (persistent.Errors, persistent.GrantsIssued, persistent.BackendMaps, persistent.BackendUnmaps, persistent.GrantedPages));
        Assert.Equal(persistentRequests, persistent.PersistentCopies);
        // dom0 gave Xen a gfn for each page mapped at once (ring and data page per frontend, the pool): its cost.
        var grants = r.Summary.Mechanisms.Grants!;
        Assert.Equal(2 + 2 + 352, grants.BackendForeignPages);
        Assert.Equal(1 + 1 + 352, grants.MappedEnd);
        Assert.Equal(pv.BackendMaps + persistent.BackendMaps, grants.Maps);
        var dom0 = r.Summary.Domains.Single(d => d.Name == ScenarioLoader.Dom0Name);
        Assert.Equal(PageSize.FromBytes(512L << 20) - grants.BackendForeignPages, dom0.TotPages);

        // The network: every received page arrived with the packet's bytes, by a copy into a granted buffer or by a
        // flip of dom0's page, which dom0 replaced from Xen each time; each sent page was copied out.
        var copy = r.Summary.Domains.Single(d => d.Name == "net-copy");
        var flip = r.Summary.Domains.Single(d => d.Name == "net-flip");
        var c = copy.Nic!;
        var f = flip.Nic!;
        Assert.True(c.RxPages > 10_000 && c.TxPages > 1_000, $"{c.RxPages} received, {c.TxPages} sent");
        Assert.Equal((0L, c.RxPages, c.TxPages, 0L), (c.Errors, c.RxCopies, c.TxCopies, c.Flips));
        Assert.Equal(NetFrontBuffers + c.RxPages + c.TxPages, c.GrantsIssued);
        Assert.Equal((0L, f.RxPages, f.RxPages, 0L, f.TxPages), (f.Errors, f.Flips, f.BackendReplenished, f.RxCopies, f.TxCopies));
        Assert.Equal(c.RxPages + c.TxPages + f.TxPages, grants.Copies);
        Assert.Equal(f.Flips, grants.Transfers);
        // A flipping guest's posted buffers are pages given back to Xen, waiting for dom0's: it holds that many fewer.
        Assert.Equal(copy.TotPages - NetFrontBuffers, flip.TotPages);
    }

    private const int NetFrontBuffers = Memvisor.Guest.Devices.NetFront.RxBuffers;

    [Fact]
    public void A_destroyed_frontend_leaves_nothing_mapped_and_the_next_one_reuses_dom0s_gfns()
    {
        const string yaml = """
            name: churn
            seed: 4
            duration: 8s
            host: { memory: 2GiB, dom0: { memory: 512MiB } }
            domains:
              - name: first
                memory: 256MiB
                disk: { driver: pv, persistent_grants: true }
                guest: { check_integrity: true }
                workload: { kind: file-streaming, file_size: 512MiB, rate: 3000/s, write_fraction: 0.3 }
              - name: second
                memory: 256MiB
                autostart: false
                disk: { driver: pv }
                guest: { check_integrity: true }
                workload: { kind: file-streaming, file_size: 512MiB, rate: 3000/s, write_fraction: 0.3 }
            events:
              - { at: 3s, action: destroy, domain: first }
              - { at: 4s, action: create, domain: second }
            """;
        var sim = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml"));
        var r = sim.Run();
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.Empty(r.Summary.Errors);
        Assert.Empty(Auditor.Check(sim.Host));
        var first = r.Summary.Domains.Single(d => d.Name == "first").Block!;
        var second = r.Summary.Domains.Single(d => d.Name == "second").Block!;
        // The destroy unmapped the ring and the whole pool before the domain went.
        Assert.Equal(first.BackendMaps, first.BackendUnmaps);
        Assert.True(second.Reads > 100, $"{second.Reads} reads");
        var grants = r.Summary.Mechanisms.Grants!;
        // Only second's ring is mapped at the end, and it took its two gfns from those first left.
        Assert.Equal(1, grants.MappedEnd);
        Assert.Equal(2 + 352, grants.BackendForeignPages);
        Assert.Equal(grants.Maps - 1, grants.Unmaps);
    }

    [Fact]
    public void Pv_devices_are_xens()
    {
        string yaml = """
            name: t
            seed: 1
            duration: 10s
            host: { memory: 1GiB, dom0: { memory: 256MiB } }
            domains:
              - name: a
                memory: 128MiB
                disk: { driver: pv }
                workload: { kind: steady, working_set: 64MiB, rate: 1000/s }
            """;
        ScenarioLoader.Parse(yaml, "t.yaml");
        var kvm = ScenarioRefusal.Single(yaml.Replace("dom0: { memory: 256MiB } }", "dom0: { memory: 256MiB }, hypervisor: kvm }"));
        Assert.Equal("domains[0].disk.driver", kvm.Field);
        Assert.Contains("split block driver", kvm.Message);
        Assert.Equal("domains[0].disk.persistent_grants", ScenarioRefusal.Single(yaml.Replace("driver: pv", "driver: emulated, persistent_grants: true")).Field);
        Assert.Equal("domains[0].disk.driver", ScenarioRefusal.Single(yaml.Replace("driver: pv", "driver: scsi")).Field);
        ScenarioLoader.Parse(yaml + "\nevents:\n  - { at: 2s, action: migrate, domain: a }\n", "t.yaml");
        string net = yaml.Replace("disk: { driver: pv }", "nic: { driver: pv, rx: 10MiB/s }");
        ScenarioLoader.Parse(net, "t.yaml");
        Assert.Equal("domains[0].nic.driver", ScenarioRefusal.Single(net.Replace("dom0: { memory: 256MiB } }", "dom0: { memory: 256MiB }, hypervisor: esx }")).Field);
        Assert.Equal("domains[0].nic.rx", ScenarioRefusal.Single(net.Replace("rx: 10MiB/s", "rx: 10MB/s")).Field);
        ScenarioLoader.Parse(net + "\nevents:\n  - { at: 2s, action: save, domain: a }\n", "t.yaml");
    }

    [Fact]
    public void Pv_devices_reconnect_after_a_migration_to_another_host_and_a_save_and_restore()
    {
        const string yaml = """
            name: moves
            seed: 8
            duration: 14s
            hosts:
              - { name: a, memory: 2GiB, dom0: { memory: 512MiB }, link: { bandwidth: 1GiB/s } }
              - { name: b, memory: 2GiB, dom0: { memory: 512MiB }, link: { bandwidth: 1GiB/s } }
            domains:
              - name: io
                host: a
                memory: 384MiB
                disk: { driver: pv, persistent_grants: true }
                nic: { driver: pv, rx: 8MiB/s, tx: 2MiB/s, flip: true }
                guest: { check_integrity: true }
                workload: { kind: file-streaming, file_size: 768MiB, rate: 4000/s, write_fraction: 0.3 }
            events:
              - { at: 3s, action: migrate, domain: io, to: b }
              - { at: 8s, action: save, domain: io }
              - { at: 10s, action: restore, domain: io }
            """;
        var sim = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml"));
        var r = sim.Run();
        Assert.Equal(0, r.Summary.Integrity.Errors);
        Assert.Empty(r.Summary.Errors);
        foreach (var hv in sim.Hosts) Assert.Empty(Auditor.Check(hv));
        var io = r.Summary.Domains.Single(d => d.Name == "io");
        Assert.Equal(("running", "b", "done"), (io.State, io.Host, Assert.Single(io.Migrations!).Outcome));
        var block = io.Block!;
        var nic = io.Nic!;
        // Connected, then resumed after the migration and after the restore, with every request and page right.
        Assert.Equal((2L, 0L), (block.Resumes, block.Errors));
        Assert.Equal((2L, 0L), (nic.Resumes, nic.Errors));
        Assert.True(block.Reads > 1_000 && nic.RxPages > 20_000, $"{block.Reads} disk reads, {nic.RxPages} pages received");
        // Each connection mapped the ring and granted the pool again: 3 rings and pools granted in all.
        Assert.Equal(3 * 353, block.GrantsIssued);
        var grants = r.Summary.Mechanisms.Grants!;
        Assert.Equal(0, grants.Refused);
        // What is mapped at the end is the last connection's: its ring and the pool pages used since the restore.
        Assert.InRange(grants.MappedEnd, 2, 353);
    }

    [Fact]
    public void Pages_given_to_xen_for_devices_count_toward_the_balloons_target()
    {
        // dom0's backend gave Xen 354 pages for a's disk: xl's autoballoon still frees exactly what b's build needs.
        const string autoballoon = """
            name: autob
            seed: 3
            duration: 40s
            host: { memory: 2GiB, dom0: { memory: 1GiB, min: 256MiB } }
            domains:
              - { name: a, memory: 256MiB, disk: { driver: pv, persistent_grants: true }, workload: { kind: idle } }
              - { name: b, memory: 900MiB, autostart: false, workload: { kind: idle } }
            events:
              - { at: 2s, action: create, domain: b }
            """;
        var r = new Simulation(ScenarioLoader.Parse(autoballoon, "t.yaml")).Run();
        Assert.Equal("running", r.Summary.Domains.Single(d => d.Name == "b").State);
        Assert.Equal(0, r.Summary.Domains.Single(d => d.Name == ScenarioLoader.Dom0Name).Guest!.TargetFailures);

        // A flipping guest with room above its memory does not take its posted buffers back, so mem-max down to its
        // memory leaves every flip room.
        const string flip = """
            name: flipmax
            seed: 2
            duration: 20s
            host: { memory: 2GiB, dom0: { memory: 256MiB } }
            domains:
              - { name: f, memory: 256MiB, maxmem: 512MiB, nic: { driver: pv, rx: 8MiB/s, flip: true }, workload: { kind: idle } }
            events:
              - { at: 10s, action: mem-max, domain: f, memory: 256MiB }
            """;
        var f = new Simulation(ScenarioLoader.Parse(flip, "t.yaml")).Run().Summary.Domains.Single(d => d.Name == "f");
        Assert.Equal((0L, 0L, PageSize.FromBytes(256L << 20) - NetFrontBuffers), (f.Nic!.Errors, f.Guest!.PagesTakenBack, f.TotPages));
    }

    [Fact]
    public void Compare_hypervisors_turns_split_drivers_off_where_the_hypervisor_has_none()
    {
        var (kvm, notes) = Memvisor.Sim.Lab.HypervisorLab.On(BuiltinScenarios.Load("split-io"), Memvisor.Hypervisor.Personalities.HostPersonality.Find("kvm")!);
        Assert.All(kvm.Domains, d => Assert.False(d.Disk.Pv || d.Nic.Pv));
        Assert.Contains(notes, n => n.Contains("pv's PV disk", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("net-flip's PV network device", StringComparison.Ordinal));
    }

    [Fact]
    public void A_disk_that_cannot_reconnect_keeps_its_figures_and_the_guest_reads_its_disk_directly()
    {
        // Twelve guests with persistent-grant disks evacuated onto a host whose 16 MiB dom0 can back only some of them.
        const string yaml = """
            name: tiny
            seed: 31
            duration: 10s
            hosts:
              - { name: a, memory: 2GiB, dom0: { memory: 512MiB }, link: { bandwidth: 2GiB/s } }
              - { name: b, memory: 2GiB, dom0: { memory: 16MiB }, link: { bandwidth: 2GiB/s } }
            domains:
              - name: g
                count: 12
                memory: 64MiB
                disk: { driver: pv, persistent_grants: true }
                guest: { check_integrity: true }
                workload: { kind: file-streaming, file_size: 256MiB, rate: 2000/s, write_fraction: 0.4 }
            events:
              - { at: 2s, action: evacuate, host: a, to: b }
            """;
        var r = new Simulation(ScenarioLoader.Parse(yaml, "t.yaml")).Run();
        Assert.Equal(0, r.Summary.Integrity.Errors);
        var failed = r.Summary.HostEvents.Where(e => e.Mechanism == "blkback").Select(e => e.Domain).ToList();
        Assert.NotEmpty(failed);
        Assert.All(r.Summary.Domains.Where(d => failed.Contains(d.Name)), d =>
        {
            // The device's figures stay; the guest went on reading its disk directly after the move.
            Assert.True(d.Block!.Reads > 100 && d.Block.Resumes == 1 && d.Block.Errors == 0, $"{d.Name}: {d.Block.Reads} reads, {d.Block.Resumes} resumes");
            Assert.True(d.Guest!.FileReads > d.Block.Reads, $"{d.Name}: {d.Guest.FileReads} file reads, {d.Block.Reads} through the device");
        });
    }
}
