using Memvisor.Hypervisor;
using Memvisor.Hypervisor.Accounting;
using Memvisor.Hypervisor.Errors;
using Memvisor.Hypervisor.P2m;
using Memvisor.Hypervisor.Paging;
using Memvisor.Machine;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Machine.Time;
using Memvisor.Sim.Engine;
using Memvisor.Sim.Scenarios;
using Memvisor.Tests.Report;
using Memvisor.Tests.Support;
using Memvisor.Seam;

namespace Memvisor.Tests.Hypervisor.Paging;

/// <summary>The swap file never overwrites what Memvisor did not write, and a swap device that fails or lies is caught, never believed.</summary>
public class SwapSafetyTests : IDisposable
{
    private static readonly ContentHandle Noise = ContentHandle.Synthetic(ContentClass.Incompressible, 43);
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-swap-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Host Host(ISwapDevice device) =>
        new(new MachineMemory(8192, 1), new CostModel(), () => 0, new OvercommitOptions { Paging = new PagingOptions { Device = device } });

    private static byte[] Bytes(ContentHandle h)
    {
        var page = new byte[PageSize.Bytes];
        new ContentStore().Read(h, page);
        return page;
    }

    [Theory]
    [InlineData(SwapFault.ReadsZero, "checksum mismatch")]
    [InlineData(SwapFault.ReadsFlipped, "checksum mismatch")]
    [InlineData(SwapFault.ReadsFail, "EIO")]
    public void A_page_the_device_returns_wrong_or_not_at_all_is_refused_to_the_guest_and_stops_paging(SwapFault fault, string named)
    {
        var device = new FaultySwapDevice(SwapFault.None);
        using var hv = Host(device);
        var a = TestHost.Domain(hv, "a", 16, 16);
        var port = hv.PortFor(a);
        port.Touch(new Gfn(3), true, Noise);
        Assert.True(hv.Paging.Evict(a, 3));
        Assert.Equal(P2mType.PagedOut, a.P2m.Get(3).Type);

        device.Fault = fault;
        var page = new byte[PageSize.Bytes];
        Assert.False(port.ReadPage(new Gfn(3), page));
        Assert.False(port.ReadPage(new Gfn(3), page));
        Assert.Equal(fault == SwapFault.ReadsFail ? 0 : 2, hv.Paging.Stats.ChecksumErrors);
        Assert.Equal(fault == SwapFault.ReadsFail ? 2 : 0, hv.Paging.Stats.ReadErrors);
        Assert.Equal(1, hv.Paging.Stats.UnreadablePages);
        // One event for the page and one for paging stopping, however often the guest tries again.
        Assert.Equal(2, hv.Events.Count);
        Assert.Contains(hv.Events.Kept, e => e.Message.Contains("gfn 3") && e.Message.Contains(named));
        Assert.Contains("cannot be trusted", hv.Paging.StopReason);
        Assert.All(hv.Refusals.Kept, r => Assert.Equal((XenErrno.EIO, RefusalCause.PageUnreadable), (r.Errno, r.Cause)));
        port.Touch(new Gfn(4), true, Noise);
        Assert.False(hv.Paging.Evict(a, 4));
        Assert.Empty(Auditor.Check(hv));

        // The page was never lost, only withheld: once the device returns the right bytes, the guest gets them.
        device.Fault = SwapFault.None;
        Assert.True(port.ReadPage(new Gfn(3), page));
        Assert.Equal(Bytes(Noise), page);
    }

    [Fact]
    public void A_swap_device_that_lies_never_gives_a_guest_wrong_bytes_in_a_run_and_the_summary_says_why()
    {
        var scenario = ScenarioLoader.Parse("""
            name: lying-swap
            seed: 5
            duration: 4s
            host: { memory: 512MiB, dom0: { memory: 128MiB }, paging: { rate: 50000/s } }
            domains:
              - name: a
                memory: 96MiB
                paging: { target: 48MiB }
                guest: { check_integrity: true }
                workload: { kind: steady, working_set: 80MiB, rate: 20000/s, write_fraction: 0.5 }
            """, "lying-swap.yaml");
        var device = new FaultySwapDevice(SwapFault.ReadsZero);
        var paging = scenario.Host.Overcommit.Paging with { Device = device };
        var result = new Simulation(scenario with { Host = scenario.Host with { Overcommit = scenario.Host.Overcommit with { Paging = paging } } }).Run();

        Assert.True(result.VerifiedReads > 0);
        // No read returned wrong bytes: the only failures are pages the device lost, which the final check could not read.
        Assert.InRange(result.IntegrityErrors, 0, result.Mechanisms.Paging.UnreadablePages);
        var messages = result.Domains.Where(d => d.Guest?.Integrity is not null).SelectMany(d => d.Guest!.Integrity!.Messages).ToList();
        Assert.Equal(result.IntegrityErrors, messages.Count);
        Assert.All(messages, m => Assert.Contains("could not read", m));
        Assert.True(result.Mechanisms.Paging.ChecksumErrors > 0);
        Assert.True(result.Mechanisms.Paging.UnreadablePages > 0);
        Assert.Contains("cannot be trusted", result.Mechanisms.Paging.Stopped);
        Assert.Contains(result.HostEvents, e => e.Message.Contains("checksum mismatch"));
    }

    [Fact]
    public void A_file_memvisor_did_not_write_is_never_used_as_swap_and_keeps_its_bytes()
    {
        string path = Path.Combine(_dir, "database.db");
        var bytes = new byte[10_000];
        new Random(1).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);

        Assert.Contains("is not a Memvisor swap file", SwapFile.WhyRefused(path));
        Assert.Null(SwapFile.TryOpen(path, 16, out string? error));
        Assert.Contains("never overwrites a file it did not write", error);
        Assert.Equal(bytes, File.ReadAllBytes(path));

        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(WithSwapFile(path), "s.yaml")).Errors.Single();
        Assert.Equal(("host.paging.swap_file", 4), (e.Field, e.Line));
        Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData("/dev/zero", "a character device")]
    [InlineData("/dev/null", "a character device")]
    [InlineData("/tmp", "is a directory; a swap file must be a regular file")]
    public void A_device_or_a_directory_is_refused_as_a_swap_file_at_its_field(string path, string kind)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(WithSwapFile(path), "s.yaml")).Errors.Single();
        Assert.Equal(("host.paging.swap_file", 4), (e.Field, e.Line));
        Assert.Contains(kind, e.Message);
    }

    [Fact]
    public void An_earlier_memvisor_swap_file_is_reused_but_not_while_a_run_holds_it()
    {
        string path = Path.Combine(_dir, "mv.swap");
        using (var first = SwapFile.TryOpen(path, 16, out _)!)
        {
            Assert.Equal(0, first.Write(first.Allocate(), new byte[PageSize.Bytes]));
            Assert.Contains("locked by another process", SwapFile.WhyRefused(path));
            Assert.Null(SwapFile.TryOpen(path, 16, out string? busy));
            Assert.Contains("locked by another process", busy);
        }
        Assert.Null(SwapFile.WhyRefused(path));
        using var second = SwapFile.TryOpen(path, 16, out string? error);
        Assert.NotNull(second);
        Assert.Null(error);
        // Reopened, it starts empty: the header page and nothing else.
        Assert.Equal(PageSize.Bytes, new FileInfo(path).Length);
    }

    [Fact]
    public void Temporary_swap_files_of_dead_runs_are_removed_and_nothing_else()
    {
        int dead = OutputDirectoryTests.DeadPid();
        byte[] temporary = [.. SwapFile.Magic, .. "temporary\n"u8, .. new byte[PageSize.Bytes - SwapFile.Magic.Length - 10]];
        string Swap(string name, byte[] content)
        {
            string path = Path.Combine(_dir, name);
            File.WriteAllBytes(path, content);
            return path;
        }
        string Named(int pid) => $"memvisor-{pid}-{Guid.NewGuid():N}.swap";
        string stale = Swap(Named(Environment.ProcessId), temporary);
        string headerless = Swap(Named(dead), []);  // killed between its creation and its header
        string users = Swap(Named(dead), "user data"u8.ToArray());
        string live = Swap(Named(dead), temporary);
        // A swap file a scenario named (its header has no temporary mark), and a copy under the user's own name.
        string named = Swap(Named(dead), [.. SwapFile.Magic, 0, 0]);
        string copy = Swap("memvisor-keep.swap", temporary);
        // A temporary's header followed by a user's text: not whole pages, so not a swap file Memvisor wrote.
        string appended = Swap(Named(dead), [.. temporary, .. "my notes"u8]);
        string other = Swap("notes.swap", temporary);

        // A running Memvisor holds its swap file locked, whatever pid the name says; no lock means no run.
        using (new FileStream(live, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            Assert.Equal(2, SwapFile.RemoveStaleTemporaries(_dir));
        Assert.False(File.Exists(stale) || File.Exists(headerless));
        Assert.All(new[] { users, live, named, copy, appended, other }, f => Assert.True(File.Exists(f), $"{Path.GetFileName(f)} was removed"));
    }

    [Fact]
    public void A_link_is_never_written_through_and_a_swap_file_with_other_names_is_refused()
    {
        string target = Path.Combine(_dir, "elsewhere.swap");
        string dangling = Path.Combine(_dir, "dangling.swap");
        File.CreateSymbolicLink(dangling, target);
        Assert.Contains("is a symbolic link", SwapFile.WhyRefused(dangling));
        Assert.Null(SwapFile.TryOpen(dangling, 16, out _));
        Assert.False(File.Exists(target), "the link's target was not created");

        // An earlier Memvisor swap file that also has another name: reusing it would cut that name's bytes short.
        string path = Path.Combine(_dir, "mv.swap");
        using (SwapFile.TryOpen(path, 16, out _)) { }
        File.AppendAllText(path, "kept");
        long length = new FileInfo(path).Length;
        string evidence = Path.Combine(_dir, "evidence.swap");
        Assert.Equal(0, Link(path, evidence));
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(WithSwapFile(path), "s.yaml")).Errors.Single();
        Assert.Equal(("host.paging.swap_file", 4), (e.Field, e.Line));
        Assert.Contains("hard links", e.Message);
        Assert.Null(SwapFile.TryOpen(path, 16, out _));
        Assert.Equal(length, new FileInfo(evidence).Length);
    }

    // ln(1) makes the second name: .NET has no call for a hard link.
    private static int Link(string existing, string created)
    {
        using var ln = System.Diagnostics.Process.Start("ln", [existing, created]);
        ln.WaitForExit();
        return ln.ExitCode;
    }

    private static string WithSwapFile(string path) => $$"""
        name: s
        duration: 1s
        host:
          paging: { swap_file: {{path}} }
          memory: 512MiB
        domains:
          - { name: a, memory: 64MiB, workload: { kind: idle } }
        """;
}
