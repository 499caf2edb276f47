using Memvisor.Seam;
using Memvisor.Hypervisor.Store;
using Memvisor.Tests.Support;
using Memvisor.Hypervisor;

namespace Memvisor.Tests.Hypervisor;

public class XenStoreTests
{
    [Fact]
    public void A_watch_fires_once_at_once_then_on_changes_at_or_below_its_path_only()
    {
        var s = new XenStore();
        s.Watch(5, "/local/domain/5/memory");
        Assert.True(s.TryTakeEvent(5, out var first));
        Assert.Equal("/local/domain/5/memory", first);
        Assert.False(s.TryTakeEvent(5, out _));

        s.Write("/local/domain/5/memory/target", 1024);
        s.Write("/local/domain/5/memory/target", 1024);          // unchanged: no event
        s.Write("/local/domain/5/memoryx", 1);                   // a sibling with the same prefix: no event
        s.Write("/local/domain/6/memory/target", 1);             // another domain: no event
        Assert.True(s.TryTakeEvent(5, out var fired));
        Assert.Equal("/local/domain/5/memory", fired);
        Assert.False(s.TryTakeEvent(5, out _));

        s.ReleaseDomain(5);
        Assert.Null(s.Read("/local/domain/5/memory/target"));
        Assert.Equal("1", s.Read("/local/domain/5/memoryx") is null ? "1" : "0");
        s.Write("/local/domain/5/memory/target", 2);
        Assert.False(s.TryTakeEvent(5, out _));
    }

    [Fact]
    public void The_domain_builder_writes_the_memory_keys_and_a_guest_may_not_write_them()
    {
        using var hv = TestHost.Create();
        var d = TestHost.Domain(hv, "g", 1024, 2048);
        Assert.Equal(4096, hv.Store.ReadLong(Host.StorePath(d, StoreKeys.Target), -1));
        Assert.Equal(8192, hv.Store.ReadLong(Host.StorePath(d, StoreKeys.StaticMax), -1));

        var store = hv.PortFor(d).Store;
        Assert.False(store.Write(StoreKeys.Target, 1));
        Assert.False(store.Write(StoreKeys.Uncooperative, 0));
        Assert.Equal(2, d.Stats.StoreWritesRefused);
        Assert.Equal(4096, store.ReadLong(StoreKeys.Target, -1));
        Assert.True(store.Write(StoreKeys.Current, 4000));
        Assert.Equal(4000, hv.Store.ReadLong(Host.StorePath(d, StoreKeys.Current), -1));

        Assert.Equal(Memvisor.Seam.XenErrno.Ok, hv.DomCtl.SetTarget(d.DomId, 512));
        Assert.Equal(2048, store.ReadLong(StoreKeys.Target, -1));
        hv.DestroyDomain(d.DomId);
        Assert.Empty(hv.Store.List(XenStore.DomainPath(d.DomId)));
    }
}
