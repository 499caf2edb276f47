using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Report.Output;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Report;

/// <summary>Memvisor writes only into a new or empty directory or over its own earlier output; what the user owns is never touched.</summary>
[Collection(ConsoleCapture.Collection)]
public class OutputDirectoryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-out-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string UserDirectory(string name)
    {
        string dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.Combine(dir, "notes"));
        File.WriteAllText(Path.Combine(dir, "thesis.tex"), "my only copy");
        File.WriteAllText(Path.Combine(dir, "notes", "todo.txt"), "finish chapter 3");
        return dir;
    }

    [Fact]
    public void A_directory_of_the_user_s_files_is_refused_before_the_run_and_left_as_it_was()
    {
        string scenario = TinyScenario.Write(_dir);
        string target = UserDirectory("work");
        var before = TinyScenario.Snapshot(target);

        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, target, quiet: true));

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains($"{target} was not touched", err);
        Assert.Contains("thesis.tex", err);
        TinyScenario.AssertUnchanged(before, target);
    }

    [Fact]
    public void Compare_refuses_a_directory_of_the_user_s_files_too()
    {
        string scenario = TinyScenario.Write(_dir);
        string target = UserDirectory("results");
        var before = TinyScenario.Snapshot(target);

        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(scenario, "static", null, target, jobs: 1, quiet: true));

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("was not touched", err);
        TinyScenario.AssertUnchanged(before, target);
    }

    [Fact]
    public void A_file_named_as_the_output_directory_is_refused_and_kept()
    {
        string scenario = TinyScenario.Write(_dir);
        string file = Path.Combine(_dir, "report.pdf");
        File.WriteAllText(file, "not a directory");

        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, file, quiet: true));

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("is a regular file, not a directory", err);
        Assert.Equal("not a directory", File.ReadAllText(file));
    }

    [Fact]
    public void An_earlier_output_is_replaced_but_not_once_the_user_has_added_or_changed_a_file_in_it()
    {
        string scenario = TinyScenario.Write(_dir);
        string target = Path.Combine(_dir, "out");
        Assert.Equal(ExitCodes.Ok, RunCommand.Run(scenario, 1, target, quiet: true));
        Assert.Equal(ExitCodes.Ok, RunCommand.Run(scenario, 2, target, quiet: true));
        Assert.Contains("\"seed\": 2", File.ReadAllText(Path.Combine(target, "summary.json")));
        Assert.Empty(Directory.GetDirectories(target));  // no staging directory left

        File.WriteAllText(Path.Combine(target, "my-analysis.txt"), "keep me");
        var before = TinyScenario.Snapshot(target);
        var (added, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, 3, target, quiet: true));
        Assert.Equal(ExitCodes.BadInput, added);
        Assert.Contains("my-analysis.txt", err);
        TinyScenario.AssertUnchanged(before, target);

        File.Delete(Path.Combine(target, "my-analysis.txt"));
        File.AppendAllText(Path.Combine(target, "timeseries.csv"), "9999,my own row\n");
        before = TinyScenario.Snapshot(target);
        var (changed, _, err2) = ConsoleCapture.Run(() => RunCommand.Run(scenario, 4, target, quiet: true));
        Assert.Equal(ExitCodes.BadInput, changed);
        Assert.Contains("timeseries.csv", err2);
        TinyScenario.AssertUnchanged(before, target);

        // An edit that keeps the file's size is a change too: the manifest holds each file's hash.
        File.WriteAllBytes(Path.Combine(target, "timeseries.csv"), before["timeseries.csv"][..^16]);
        var report = File.ReadAllBytes(Path.Combine(target, "report.html"));
        report[^2] ^= 0x20;
        File.WriteAllBytes(Path.Combine(target, "report.html"), report);
        before = TinyScenario.Snapshot(target);
        var (edited, _, err3) = ConsoleCapture.Run(() => RunCommand.Run(scenario, 5, target, quiet: true));
        Assert.Equal(ExitCodes.BadInput, edited);
        Assert.Contains("report.html", err3);
        TinyScenario.AssertUnchanged(before, target);
    }

    [Fact]
    public void An_empty_directory_is_written_into()
    {
        string scenario = TinyScenario.Write(_dir);
        string target = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        Assert.Equal(ExitCodes.Ok, RunCommand.Run(scenario, null, target, quiet: true));
        Assert.True(File.Exists(Path.Combine(target, "summary.json")));
        Assert.NotNull(OutputManifest.TryRead(target));
    }

    [Fact]
    public void A_scenario_name_that_is_a_path_is_refused_in_validate_and_run_and_the_directory_it_names_survives()
    {
        string victim = UserDirectory("victim");
        var before = TinyScenario.Snapshot(victim);
        foreach (var name in new[] { victim, "../../victim", "..", ".", "a/b" })
        {
            string scenario = TinyScenario.Write(_dir, y => y.Replace("name: tiny", $"name: \"{name}\""));
            var (validate, _, verr) = ConsoleCapture.Run(() => ValidateCommand.Validate(scenario));
            Assert.Equal(ExitCodes.BadInput, validate);
            Assert.Contains($"{scenario}:1:7: name: ", verr);
            var (run, _, rerr) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, null, quiet: true));
            Assert.Equal(ExitCodes.BadInput, run);
            Assert.Contains("is not a scenario name", rerr);
        }
        TinyScenario.AssertUnchanged(before, victim);
    }

    [Fact]
    public void A_run_that_fails_midway_leaves_no_output_and_removes_the_directory_it_made()
    {
        // The trace is refused only when the guest replays it, after the run has started.
        string trace = Path.Combine(_dir, "bad.lackey");
        File.WriteAllText(trace, string.Concat(Enumerable.Repeat(" L 1000,8\n", 10)) + "this is not a trace\n");
        string scenario = TinyScenario.Write(_dir, y => y.Replace("{ kind: steady, working_set: 16MiB, rate: 1000/s }", $"{{ kind: trace, path: {trace} }}"));
        string target = Path.Combine(_dir, "never");

        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, target, quiet: true));

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("bad.lackey:11:", err);
        Assert.False(Directory.Exists(target));
    }

    [Fact]
    public void A_staging_directory_no_run_holds_is_removed_and_one_a_live_run_holds_keeps_others_out()
    {
        string scenario = TinyScenario.Write(_dir);
        string target = Directory.CreateDirectory(Path.Combine(_dir, "shared")).FullName;
        string dead = Directory.CreateDirectory(Path.Combine(target, ".memvisor-staging-" + DeadPid())).FullName;
        File.WriteAllText(Path.Combine(dead, ".memvisor-staging"), DeadPid().ToString());
        File.WriteAllText(Path.Combine(dead, "summary.json"), "{ half written");
        // A run killed between making its staging directory and its marker left it empty, with no lock to ask.
        string unmarked = Directory.CreateDirectory(Path.Combine(target, $".memvisor-staging-{DeadPid()}-{Guid.NewGuid():N}")).FullName;

        Assert.Equal(ExitCodes.Ok, RunCommand.Run(scenario, null, target, quiet: true));
        Assert.False(Directory.Exists(dead));
        Assert.False(Directory.Exists(unmarked));

        // A run that lives holds its marker locked, whatever its pid: another writer is refused and its files stay.
        string live = Directory.CreateDirectory(Path.Combine(target, ".memvisor-staging-1")).FullName;
        using (var held = new FileStream(Path.Combine(live, ".memvisor-staging"), FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, target, quiet: true));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains("being written by another Memvisor run (.memvisor-staging-1)", err);
        }
        Assert.True(Directory.Exists(live));
        // Once its lock is gone (the run died, even with our own pid), the next run clears it.
        Assert.Equal(ExitCodes.Ok, RunCommand.Run(scenario, null, target, quiet: true));
        Assert.False(Directory.Exists(live));
    }

    [Fact]
    public void An_output_that_cannot_be_written_is_one_sentence_and_exit_1_before_anything_runs()
    {
        string scenario = TinyScenario.Write(_dir);
        string file = Path.Combine(_dir, "plain-file");
        File.WriteAllText(file, "x");
        foreach (var target in new[] { Path.Combine(file, "out"), Path.Combine(_dir, new string('x', 300)) })
        {
            var (code, stdout, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, target, quiet: true));
            Assert.Equal(ExitCodes.Failure, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.DoesNotContain("   at ", err);
            Assert.Contains("creating the output directory failed: ", err);
            Assert.Empty(stdout);
        }
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void A_refused_directory_keeps_even_a_dead_run_s_staging_directory_and_a_link_named_like_one()
    {
        string scenario = TinyScenario.Write(_dir);
        string target = UserDirectory("mixed");
        string dead = Directory.CreateDirectory(Path.Combine(target, ".memvisor-staging-" + DeadPid())).FullName;
        File.WriteAllText(Path.Combine(dead, ".memvisor-staging"), DeadPid().ToString());
        File.WriteAllText(Path.Combine(dead, "summary.json"), "{ kept results }");
        string elsewhere = Directory.CreateDirectory(Path.Combine(_dir, "elsewhere")).FullName;
        File.WriteAllText(Path.Combine(elsewhere, ".memvisor-staging"), DeadPid().ToString());
        File.CreateSymbolicLink(Path.Combine(target, ".memvisor-staging-" + (DeadPid() + 1)), elsewhere);
        var before = TinyScenario.Snapshot(target);

        var (code, _, _) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, target, quiet: true));

        Assert.Equal(ExitCodes.BadInput, code);
        TinyScenario.AssertUnchanged(before, target);
        Assert.True(File.Exists(Path.Combine(elsewhere, ".memvisor-staging")));
    }

    [Theory]
    [InlineData("[{\"path\": \"x\\u0000y\", \"bytes\": 1, \"xxh3\": \"0\"}]")]
    [InlineData("[{\"path\": \"run.json\", \"bytes\": 1, \"xxh3\": \"0\"}, {\"path\": \"run.json/x\", \"bytes\": 1, \"xxh3\": \"0\"}]")]
    [InlineData("[{\"path\": \"notes.txt\", \"bytes\": 5, \"xxh3\": \"0\"}, {\"path\": \"notes.txt\", \"bytes\": 5, \"xxh3\": \"0\"}]")]
    [InlineData("[{\"path\": \"../outside.txt\", \"bytes\": 5, \"xxh3\": \"0\"}]")]
    public void A_manifest_that_could_not_have_been_written_by_memvisor_is_not_believed(string files)
    {
        string scenario = TinyScenario.Write(_dir);
        string target = Directory.CreateDirectory(Path.Combine(_dir, "forged")).FullName;
        File.WriteAllText(Path.Combine(target, "notes.txt"), "mine!");
        File.WriteAllText(Path.Combine(target, OutputManifest.FileName), $"{{\"format\": \"memvisor-output\", \"version\": 1, \"command\": \"run\", \"files\": {files}}}");
        var before = TinyScenario.Snapshot(target);

        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, target, quiet: true));

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("no Memvisor manifest", err);
        TinyScenario.AssertUnchanged(before, target);
        // The same manifest without its flaw is believed (and then refused only for the file it does not match).
        Assert.NotNull(OutputManifest.TryRead(WithManifest("[{\"path\": \"notes.txt\", \"bytes\": 5, \"xxh3\": \"0\"}]")));
    }

    private string WithManifest(string files)
    {
        string dir = Directory.CreateTempSubdirectory("memvisor-manifest-").FullName;
        File.WriteAllText(Path.Combine(dir, OutputManifest.FileName), $"{{\"format\": \"memvisor-output\", \"version\": 1, \"command\": \"run\", \"files\": {files}}}");
        return dir;
    }

    [Fact]
    public void A_commit_that_finds_the_directory_changed_keeps_the_results_where_no_later_run_removes_them()
    {
        string target = Path.Combine(_dir, "raced");
        string kept;
        using (var output = OutputDirectory.Prepare(target, "run"))
        {
            output.WriteFile("summary.json", s => s.Write("{}"u8));
            File.WriteAllText(Path.Combine(target, "arrived-during-the-run.txt"), "mine");
            var e = Assert.Throws<OutputException>(output.Commit);
            Assert.Equal(OutputFailure.WriteFailed, e.Failure);
            kept = e.Message[(e.Message.IndexOf("kept in ", StringComparison.Ordinal) + 8)..].TrimEnd('.');
        }
        Assert.True(File.Exists(Path.Combine(kept, "summary.json")));
        // With the user's file gone, the kept results alone keep the directory from being written, and survive.
        File.Delete(Path.Combine(target, "arrived-during-the-run.txt"));
        var again = Assert.Throws<OutputException>(() => OutputDirectory.Prepare(target, "run").Dispose());
        Assert.Contains(Path.GetFileName(kept), again.Message);
        Assert.True(File.Exists(Path.Combine(kept, "summary.json")));
    }

    [Fact]
    public void A_failed_run_removes_every_directory_it_made_and_a_dangling_link_is_refused()
    {
        string trace = Path.Combine(_dir, "bad.lackey");
        File.WriteAllText(trace, "not a trace\n");
        string scenario = TinyScenario.Write(_dir, y => y.Replace("{ kind: steady, working_set: 16MiB, rate: 1000/s }", $"{{ kind: trace, path: {trace} }}"));
        Assert.Equal(ExitCodes.BadInput, ConsoleCapture.Run(() => RunCommand.Run(scenario, null, Path.Combine(_dir, "n1", "n2", "n3"), quiet: true)).Code);
        Assert.False(Directory.Exists(Path.Combine(_dir, "n1")));

        string link = Path.Combine(_dir, "dangling");
        File.CreateSymbolicLink(link, Path.Combine(_dir, "nowhere"));
        var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(TinyScenario.Write(_dir), null, link, quiet: true));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("symbolic link to nothing", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "nowhere")));
    }

    [Fact]
    public void A_swap_file_inside_the_output_directory_is_refused_before_the_run()
    {
        string target = Directory.CreateDirectory(Path.Combine(_dir, "with-swap")).FullName;
        // Named through a link to the output directory, it is the same file.
        string link = Path.Combine(_dir, "link-to-output");
        File.CreateSymbolicLink(link, target);
        foreach (var directory in new[] { target, link })
        {
            string scenario = TinyScenario.Write(_dir, y => y.Replace("host: { memory: 512MiB,", $"host: {{ paging: {{ swap_file: {Path.Combine(directory, "swap.bin")} }}, memory: 512MiB,"));
            var (code, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, null, target, quiet: true));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains("is inside the output directory", err);
            Assert.Empty(Directory.EnumerateFileSystemEntries(target));
        }
    }

    [Fact]
    public void A_file_that_appears_where_a_single_output_goes_while_it_is_written_is_not_replaced()
    {
        string target = Path.Combine(_dir, "timing.json");
        using (var file = OutputFile.Prepare(target, "the figures", _ => true))
        {
            using (var s = file.OpenWrite()) s.Write("{}"u8);
            File.WriteAllText(target, "the user's own file, made meanwhile");
            var e = Assert.Throws<OutputException>(file.Commit);
            Assert.Equal(OutputFailure.WriteFailed, e.Failure);
            Assert.Contains("a file appeared there", e.Message);
        }
        Assert.Equal("the user's own file, made meanwhile", File.ReadAllText(target));
        Assert.Equal("{}", File.ReadAllText(target + ".memvisor-kept-" + Environment.ProcessId));
        Assert.Empty(Directory.GetFiles(_dir, ".timing.json.memvisor-staging-*"));
    }

    [Fact]
    public void A_commit_killed_midway_is_finished_by_the_next_run_unless_the_user_added_a_file()
    {
        string scenario = TinyScenario.Write(_dir);
        string target = Path.Combine(_dir, "killed-commit");
        Assert.Equal(ExitCodes.Ok, RunCommand.Run(scenario, 1, target, quiet: true));
        // The state a SIGKILL leaves halfway through a commit (as compare's and --snapshots' subdirectories made it
        // likely): the new results staged with their manifest, the earlier manifest moved beside them, one earlier
        // file removed and one new subdirectory already moved into place.
        string staging = Directory.CreateDirectory(Path.Combine(target, $"{OutputDirectory.StagingPrefix}{DeadPid()}-{Guid.NewGuid():N}")).FullName;
        File.WriteAllText(Path.Combine(staging, OutputDirectory.StagingMarker), $"{DeadPid()}\n");
        File.WriteAllText(Path.Combine(staging, "summary.json"), "{ \"new\": true }");
        Directory.CreateDirectory(Path.Combine(staging, "mom"));
        File.WriteAllText(Path.Combine(staging, "mom", "summary.json"), "{ \"policy\": \"mom\" }");
        using (var m = File.Create(Path.Combine(staging, OutputManifest.FileName)))
            OutputManifest.Of(staging, "compare", skip: OutputDirectory.StagingMarker).Write(m);
        File.Move(Path.Combine(target, OutputManifest.FileName), Path.Combine(staging, OutputDirectory.PreviousManifest));
        File.Delete(Path.Combine(target, "report.html"));
        Directory.Move(Path.Combine(staging, "mom"), Path.Combine(target, "mom"));

        File.WriteAllText(Path.Combine(target, "mine.txt"), "added after the kill");
        var before = TinyScenario.Snapshot(target);
        var (refused, _, _) = ConsoleCapture.Run(() => RunCommand.Run(scenario, 2, target, quiet: true));
        Assert.Equal(ExitCodes.BadInput, refused);
        TinyScenario.AssertUnchanged(before, target);

        File.Delete(Path.Combine(target, "mine.txt"));
        var (finished, _, err) = ConsoleCapture.Run(() => RunCommand.Run(scenario, 2, target, quiet: true));
        Assert.True(finished == ExitCodes.Ok, err);
        Assert.Empty(Directory.GetDirectories(target));
        Assert.Contains("\"seed\": 2", File.ReadAllText(Path.Combine(target, "summary.json")));
        var written = OutputManifest.TryRead(target)!.Files.Select(f => f.Path).Order(StringComparer.Ordinal);
        var present = Directory.GetFiles(target).Select(Path.GetFileName).Where(n => n != OutputManifest.FileName).Order(StringComparer.Ordinal);
        Assert.Equal(written, present);
    }

    /// <summary>A process id that no process has: one past the kernel's limit.</summary>
    internal static int DeadPid() => int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim()) + 1;
}
