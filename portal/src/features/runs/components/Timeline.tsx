// The run's timeline: a virtualised list (dynamic row heights) that follows
// the tail unless the person scrolled up; then a "New events" pill.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import type { HumanLoopItem, TimelineItem } from "@/lib/runLog";
import { TimelineRow, type OpenParts } from "./TimelineRow";

/** How close to the bottom (px) still counts as "at the tail". */
const TAIL_SLACK = 32;

export interface TimelineProps {
  items: readonly TimelineItem[];
  lastSeq: number;
  /** Renders a human-loop request (with its answer form while pending). */
  renderHumanLoop: (item: HumanLoopItem) => ReactNode;
  /** Shown when there are no items yet. */
  empty?: ReactNode;
}

export function Timeline({ items, lastSeq, renderHumanLoop, empty }: TimelineProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const innerRef = useRef<HTMLDivElement>(null);
  // Following the tail: a ref for the scroll logic, state for the pill.
  const followRef = useRef(true);
  const [following, setFollowing] = useState(true);
  const [seqWhenLeft, setSeqWhenLeft] = useState(0);
  const [open, setOpenSet] = useState<ReadonlySet<string>>(() => new Set());

  const setOpen = useCallback((id: string, isOpen: boolean) => {
    setOpenSet((current) => {
      if (current.has(id) === isOpen) return current;
      const next = new Set(current);
      if (isOpen) next.add(id);
      else next.delete(id);
      return next;
    });
  }, []);
  const parts: OpenParts = useMemo(() => ({ open, setOpen }), [open, setOpen]);

  // Not memoised by the React Compiler (it says so); this component does not rely on that.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 44,
    overscan: 12,
    getItemKey: (index) => items[index]?.key ?? index,
  });

  const scrollToTail = useCallback(() => {
    const el = scrollRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);

  const follow = (yes: boolean) => {
    if (followRef.current === yes) return;
    followRef.current = yes;
    setFollowing(yes);
    if (!yes) setSeqWhenLeft(lastSeq);
  };

  // Only the person leaves the tail or comes back to it (wheel, keys, the
  // scrollbar, touch): rows measured after a render also move the scroll
  // position, and that must neither stop nor restart the following.
  const draggingRef = useRef(false);
  const intentRef = useRef<"up" | "down" | null>(null);
  const lastTopRef = useRef(0);
  const atTail = () => {
    const el = scrollRef.current;
    return !el || el.scrollHeight - el.scrollTop - el.clientHeight <= TAIL_SLACK;
  };
  const onScroll = () => {
    const top = scrollRef.current?.scrollTop ?? 0;
    const movedUp = top < lastTopRef.current;
    lastTopRef.current = top;
    if (draggingRef.current) intentRef.current = movedUp ? "up" : "down";
    if (intentRef.current === "up" && !atTail()) follow(false);
    else if (intentRef.current === "down" && atTail()) follow(true);
  };
  const intend = (direction: "up" | "down") => {
    intentRef.current = direction;
    if (direction === "up") follow(false);
  };
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.target !== event.currentTarget) return;
    // Home and End jump at once: a long smooth scroll over a live list gets cut short.
    if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      if (event.key === "End") jumpToTail();
      else {
        intend("up");
        virtualizer.scrollToIndex(0, { align: "start" });
      }
      return;
    }
    if (["ArrowUp", "PageUp"].includes(event.key) || (event.key === " " && event.shiftKey)) intend("up");
    else if (["ArrowDown", "PageDown", " "].includes(event.key)) intend("down");
  };

  // New items (or a growing one): stay at the tail when following.
  useLayoutEffect(() => {
    if (followRef.current) scrollToTail();
  }, [items, scrollToTail]);

  // Rows measured after render change the total height: follow that too.
  useEffect(() => {
    const inner = innerRef.current;
    if (!inner) return;
    const observer = new ResizeObserver(() => {
      if (followRef.current) scrollToTail();
    });
    observer.observe(inner);
    return () => observer.disconnect();
  }, [scrollToTail]);

  const jumpToTail = () => {
    intentRef.current = null;
    followRef.current = true;
    setFollowing(true);
    if (items.length > 0) virtualizer.scrollToIndex(items.length - 1, { align: "end" });
    requestAnimationFrame(scrollToTail);
  };

  const virtualRows = virtualizer.getVirtualItems();
  const showPill = !following && lastSeq > seqWhenLeft;

  return (
    <div className="timeline-wrap">
      <div
        ref={scrollRef}
        className="timeline"
        onScroll={onScroll}
        onWheel={(e) => {
          if (e.deltaY !== 0) intend(e.deltaY < 0 ? "up" : "down");
        }}
        onKeyDown={onKeyDown}
        onPointerDown={() => (draggingRef.current = true)}
        onPointerUp={() => (draggingRef.current = false)}
        onPointerCancel={() => (draggingRef.current = false)}
        onTouchStart={() => (draggingRef.current = true)}
        onTouchEnd={() => (draggingRef.current = false)}
        tabIndex={0}
        role="region"
        aria-label="Run events"
      >
        {items.length === 0 && empty}
        <div
          ref={innerRef}
          role="list"
          aria-label="Timeline"
          className="timeline__list"
          style={{ height: virtualizer.getTotalSize() }}
        >
          {virtualRows.map((row) => {
            const item = items[row.index];
            return (
              <div
                key={row.key}
                role="listitem"
                data-index={row.index}
                data-seq={item.seq}
                aria-setsize={items.length}
                aria-posinset={row.index + 1}
                ref={virtualizer.measureElement}
                className={`timeline__row timeline__row--${item.kind}`}
                style={{ transform: `translateY(${row.start}px)` }}
              >
                <TimelineRow item={item} parts={parts} renderHumanLoop={renderHumanLoop} />
              </div>
            );
          })}
        </div>
      </div>
      {showPill && (
        <button type="button" className="new-events-pill" onClick={jumpToTail}>
          New events <span aria-hidden="true">↓</span>
        </button>
      )}
    </div>
  );
}
