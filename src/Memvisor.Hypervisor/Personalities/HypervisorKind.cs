namespace Memvisor.Hypervisor.Personalities;

/// <summary>Which hypervisor the host is (scenario <c>host.hypervisor</c>): its defaults and the behaviours it has.</summary>
public enum HypervisorKind
{
    Xen,
    Esx,
    Kvm,
    HyperV,
}
