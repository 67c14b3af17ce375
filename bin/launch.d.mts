/** The folders the CLI is bundled from. */
export const SOURCE_DIRS: readonly string[];
/** A fingerprint of the CLI's sources under root: changes with any edit, new or removed file. */
export function sourceFingerprint(root: string): string;
/** The prebuilt bundle's entry for the sources under root as they are now, built first if missing. */
export function bundledEntry(root?: string): Promise<string>;
/** Run the pg-cdc CLI: from its bundle, or through tsx when the bundle cannot be built. */
export function launch(): Promise<void>;
