/**
 * Steps that must be undone if a later step fails. `unwind` runs each undo
 * once, newest first, and keeps going when one of them fails: a half-created
 * sandbox is worse than a noisy log line.
 */
export class UndoStack {
  private steps: { what: string; undo: () => Promise<unknown> }[] = [];
  private unwound = false;

  push(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  /** The work succeeded: nothing is undone. */
  commit(): void {
    this.steps = [];
  }

  async unwind(onError: (what: string, error: unknown) => void): Promise<void> {
    if (this.unwound) return;
    this.unwound = true;
    for (const step of this.steps.reverse()) {
      try {
        await step.undo();
      } catch (e) {
        onError(step.what, e);
      }
    }
    this.steps = [];
  }
}
