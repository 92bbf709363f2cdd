import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The embedded database's folder is in use by another live process. */
export class DataDirInUseError extends Error {}

const LOCK_FILE = 'milepost.pid';

/**
 * Claims the embedded database's folder for this process: two processes writing one PGlite
 * folder corrupt it sooner or later. The claim is a file holding the owner's pid; a file whose
 * process is gone (killed, say) is taken over. Returns the release.
 */
export function claimDataDir(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new DataDirInUseError(
          `the embedded database in ${dataDir} is in use by process ${owner}: stop that process, or set PGLITE_DATA_DIR to another folder`,
        );
      }
      unlinkSync(path); // left by a process that is gone
    }
  }
  throw new DataDirInUseError(`could not claim the embedded database in ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
