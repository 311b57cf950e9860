import type { LongOperation } from '../progress.js';
import type { ImageInfo } from './image-store.js';

/**
 * What an image store asks of the images every daemon sees (BOTHUB_STORE:
 * records in the shared database, layers archived in the object store). The
 * daemon provides it; without a store there is none and images are this
 * daemon's alone, as before.
 */
export interface ImageSharing {
  /** A new image here, its image.json written: its layers archived into the store, then its record. On failure the image here is gone too. */
  publish(info: ImageInfo): Promise<void>;
  /** What `name` is: this machine's image (`here`), unless it was shared and its record is gone; else the record. */
  resolve(name: string, here: ImageInfo | undefined): Promise<ImageInfo | undefined>;
  /** This machine's images and the recorded ones, one of each name, by name. */
  merge(here: ImageInfo[]): Promise<ImageInfo[]>;
  /** Makes the image whole on this machine (its missing layers from the store, its image.json) before it is used here. */
  materialize(info: ImageInfo, op?: LongOperation): Promise<void>;
  /** Nothing here holds layers no image.json names any more (see ImageStore.holding): the layer cache may let some go. */
  settled(): void;
}
