// One pointer drag on an element, as the stack and MPR viewports both handle it: the
// press captures the pointer, moves of other pointers are ignored, a move becomes a
// drag only past a threshold, and release or cancel ends it. The viewport decides what
// a drag starts with and what a move does.

/** What every drag carries; a viewport adds its own start state. */
export interface Drag {
  /** The screen offset from the press (CSS pixels). */
  dx: number;
  dy: number;
  /** Past the threshold at least once. */
  moved: boolean;
}

export interface DragHandlers<S> {
  /** A press: the drag's start state, or null when this press starts none. */
  begin(e: PointerEvent): S | null;
  /** A move of the dragging pointer past the threshold. */
  move(state: S, drag: Drag, e: PointerEvent): void;
  /** Release (`e.type` "pointerup") or cancel ("pointercancel"). */
  end?(state: S, drag: Drag, e: PointerEvent): void;
  /** A move with no drag under way (hover). */
  hover?(e: PointerEvent): void;
}

/** Tracks drags on `el`; `active()` is the current drag's state, or null. */
export function trackDrags<S>(el: HTMLElement, h: DragHandlers<S>, threshold: number): { active(): S | null } {
  let current: { id: number; x: number; y: number; state: S; drag: Drag } | null = null;
  el.addEventListener("pointerdown", (e) => {
    if (current || e.button > 2) return;
    const state = h.begin(e);
    if (state === null) return;
    e.preventDefault();
    el.setPointerCapture(e.pointerId);
    current = { id: e.pointerId, x: e.clientX, y: e.clientY, state, drag: { dx: 0, dy: 0, moved: false } };
  });
  el.addEventListener("pointermove", (e) => {
    if (!current) return h.hover?.(e);
    if (e.pointerId !== current.id) return;
    const d = current.drag;
    d.dx = e.clientX - current.x;
    d.dy = e.clientY - current.y;
    if (!d.moved && Math.hypot(d.dx, d.dy) < threshold) return;
    d.moved = true;
    h.move(current.state, d, e);
  });
  const end = (e: PointerEvent) => {
    if (!current || e.pointerId !== current.id) return;
    const { state, drag } = current;
    current = null;
    if (el.hasPointerCapture(e.pointerId)) el.releasePointerCapture(e.pointerId);
    h.end?.(state, drag, e);
  };
  el.addEventListener("pointerup", end);
  el.addEventListener("pointercancel", end);
  return { active: () => current?.state ?? null };
}
