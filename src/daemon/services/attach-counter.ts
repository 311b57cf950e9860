/**
 * Commands with a live connection to init, per sandbox id: CRIU cannot
 * checkpoint those connections, so a snapshot or a cool-down asks first.
 */
export class AttachCounter {
  private readonly attached = new Map<string, number>();

  change(id: string, delta: 1 | -1): void {
    const n = (this.attached.get(id) ?? 0) + delta;
    if (n > 0) this.attached.set(id, n);
    else this.attached.delete(id);
  }

  count(id: string): number {
    return this.attached.get(id) ?? 0;
  }
}
