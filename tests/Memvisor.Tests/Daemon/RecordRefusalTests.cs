using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Daemon;

/// <summary>memvisor record refuses what it cannot record, in sentences, before it reads a VM or writes a file.</summary>
[Collection(ConsoleCapture.Collection)]
public sealed class RecordRefusalTests
{
    [Theory]
    [InlineData("0s", "1s", "--duration: '0s' is not a duration from 1s to 24h")]
    [InlineData("10s", "50ms", "--interval: '50ms' is not an interval from 100ms")]
    [InlineData("10s", "11s", "is not an interval from 100ms to the duration")]
    [InlineData("10s", "1s", "there is no such socket or directory")]
    public void Bad_durations_intervals_and_VMs_are_refused_and_nothing_is_written(string duration, string interval, string said)
    {
        string dir = Directory.CreateTempSubdirectory("memvisor-record-").FullName;
        try
        {
            string target = Path.Combine(dir, "out");
            var (code, _, err) = ConsoleCapture.Run(() => RecordCommand.Run([Path.Combine(dir, "none.qmp")], duration, interval, target, null, "20000/s", CancellationToken.None));
            Assert.Equal(ExitCodes.BadInput, code);
            Assert.Contains(said, err);
            Assert.False(Directory.Exists(target));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
