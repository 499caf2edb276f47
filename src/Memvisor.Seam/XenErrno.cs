namespace Memvisor.Seam;

/// <summary>The error codes hypercalls return, with Xen's numeric values (xen/include/public/errno.h).</summary>
public enum XenErrno
{
    Ok = 0,
    EPERM = 1,
    ESRCH = 3,
    EIO = 5,
    E2BIG = 7,
    ENOMEM = 12,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EINVAL = 22,
    EOPNOTSUPP = 95,
}
