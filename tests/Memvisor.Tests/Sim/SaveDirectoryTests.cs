using Memvisor.Native;
using Memvisor.Sim.Toolstack;

namespace Memvisor.Tests.Sim;

/// <summary>Save-image directories: a dead run's are removed by the next run, and nothing else is.</summary>
public class SaveDirectoryTests
{
    [Fact]
    public void Only_directories_of_dead_runs_holding_nothing_but_images_are_removed()
    {
        string root = Directory.CreateTempSubdirectory("mv-savedir-test-").FullName;
        try
        {
            string Make(string name, params string[] files)
            {
                string dir = Path.Combine(root, name);
                Directory.CreateDirectory(dir);
                foreach (string f in files) File.WriteAllText(Path.Combine(dir, f), "x");
                return dir;
            }
            string dead = Make("memvisor-save-dead", ".lock", "1.xlsave", "7.xlsave");
            string empty = Make("memvisor-save-empty");
            string foreign = Make("memvisor-save-foreign", ".lock", "1.xlsave", "notes.txt");
            string noLock = Make("memvisor-save-nolock", "1.xlsave");
            string other = Make("somebody-else", ".lock", "1.xlsave");
            string live = Make("memvisor-save-live", ".lock", "2.xlsave");
            using var held = File.OpenHandle(Path.Combine(live, ".lock"), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            Assert.Equal(LockAttempt.Taken, FileLock.TryTake(held));

            Assert.Equal(2, SaveDirectory.RemoveStale(root));
            Assert.False(Directory.Exists(dead));
            Assert.False(Directory.Exists(empty));
            Assert.True(File.Exists(Path.Combine(foreign, "notes.txt")) && File.Exists(Path.Combine(foreign, "1.xlsave")));
            Assert.True(File.Exists(Path.Combine(noLock, "1.xlsave")));
            Assert.True(File.Exists(Path.Combine(other, "1.xlsave")));
            Assert.True(File.Exists(Path.Combine(live, "2.xlsave")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
