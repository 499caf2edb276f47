using FsCheck;
using FsCheck.Fluent;
using Memvisor.Machine.Content;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Machine;

/// <summary>
/// The content memo keeps values worked out from pages' bytes by their handles. A hit must give the value last kept for
/// that handle, never another handle's; the handle kept last is always found; and, four ways to a set, any four
/// handles kept one after another are all found, where a direct-mapped memo loses one whenever two share a slot.
/// </summary>
public class HandleMemoProperties
{
    private static readonly Gen<(ulong Handle, ulong Value)[]> Puts =
        Gen.ArrayOf(from h in Gen.Choose(1, 5000) from v in ArbMap.Default.GeneratorFor<ulong>() select ((ulong)h, v));

    [Fact]
    public void A_hit_gives_the_value_last_kept_for_its_handle_and_the_last_kept_is_found()
    {
        Properties.Check(Puts, puts =>
        {
            var memo = new HandleMemo(4096);
            var model = new Dictionary<ulong, ulong>();
            foreach (var (handle, value) in puts)
            {
                memo.Put(handle, value);
                model[handle] = value;
                Assert.True(memo.TryGet(handle, out ulong got), $"handle {handle} was not found right after it was kept");
                Assert.Equal(value, got);
            }
            for (ulong h = 0; h <= 5001; h++)
                if (memo.TryGet(h, out ulong got))
                    Assert.Equal(model[h], got);
        }, maxTest: 200);
    }

    [Fact]
    public void Any_four_handles_kept_in_a_row_are_all_found()
    {
        var gen = Gen.ArrayOf(ArbMap.Default.GeneratorFor<ulong>().Where(h => h != 0), 4).Where(a => a.Distinct().Count() == 4);
        Properties.Check(gen, handles =>
        {
            // The smallest memo: 1024 sets, so that four random handles share a set now and then.
            var memo = new HandleMemo(1);
            foreach (var h in handles) memo.Put(h, ~h);
            foreach (var h in handles)
            {
                Assert.True(memo.TryGet(h, out ulong got), $"handle {h} of {string.Join(", ", handles)} was dropped");
                Assert.Equal(~h, got);
            }
        }, maxTest: 3000);
    }

    [Fact]
    public void Handle_zero_is_never_kept()
    {
        var memo = new HandleMemo(4096);
        memo.Put(0, 42);
        Assert.False(memo.TryGet(0, out _));
    }
}
