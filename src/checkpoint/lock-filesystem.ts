import { statfs } from "node:fs/promises";
import { UsageError } from "../errors.js";

/**
 * Where the checkpoint lock holds. On Linux, `flock` on a local filesystem (ext4, xfs, btrfs, tmpfs,
 * overlayfs, zfs, ...) is the kernel's own lock, shared by every process of the machine. Filesystems
 * that implement `flock` themselves do something else: NFS turns it into a byte-range lock on the
 * server, which a lease expiry or a server restart can lose while the run goes on (and `local_lock`
 * mounts keep it on one client only); SMB/CIFS maps it onto the server's share modes; FUSE hands it
 * to a user-space daemon (sshfs and most network FUSE filesystems lock only locally); cluster
 * filesystems each have their own lock manager. On those the lock is refused rather than trusted.
 */

/** statfs f_type magic numbers (linux/magic.h and the filesystems' sources) of filesystems with their own flock. */
const NON_LOCAL: ReadonlyMap<number, string> = new Map([
  [0x6969, "NFS"],
  [0x517b, "SMB"],
  [0xff534d42, "CIFS/SMB"],
  [0xfe534d42, "SMB2/SMB3"],
  [0x65735546, "FUSE"],
  [0x01021997, "9P (v9fs)"],
  [0x00c36400, "CephFS"],
  [0x01161970, "GFS2"],
  [0x7461636f, "OCFS2"],
  [0x5346414f, "AFS"],
  [0x6b414653, "AFS"],
  [0x0bd00bd0, "Lustre"],
  [0x47504653, "GPFS"],
  [0x20030528, "OrangeFS"],
  [0x73757245, "Coda"],
  [0x564c, "NCP"],
]);

/** The name of a filesystem on which the lock cannot be trusted, or undefined where it holds. */
export function nonLocalFilesystem(type: number): string | undefined {
  return NON_LOCAL.get(type >>> 0);
}

/**
 * Refuses (exit 2, nothing sent) a lock directory on a filesystem where flock is not the local
 * kernel lock. Elsewhere than Linux the magic numbers mean something else, so nothing is checked.
 */
export async function refuseUnlockableFilesystem(dir: string, read: (dir: string) => Promise<{ type: number }> = statfs): Promise<void> {
  if (process.platform !== "linux") return;
  const name = nonLocalFilesystem((await read(dir)).type);
  if (name === undefined) return;
  throw new UsageError(
    `${dir} is on ${name}, where the checkpoint lock (flock) is not the local kernel lock: it can be lost mid-run, or hold on one machine only. ` +
      "Keep the checkpoint on a local disk: pass --state with a path on a local filesystem (ext4, xfs, btrfs, tmpfs...). Nothing was sent",
    "LOCK_FILESYSTEM",
  );
}
