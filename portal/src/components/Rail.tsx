// The right rail: the layout owns the slot, any page fills it.
import { createContext, useContext, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";

const RailContext = createContext<{ target: HTMLElement | null; setTarget: (el: HTMLElement | null) => void } | null>(
  null,
);

export function RailProvider({ children }: { children: ReactNode }) {
  const [target, setTarget] = useState<HTMLElement | null>(null);
  return <RailContext.Provider value={{ target, setTarget }}>{children}</RailContext.Provider>;
}

/** Where the rail's content appears (rendered once, by the layout). */
export function RailSlot({ label }: { label: string }) {
  const context = useContext(RailContext);
  return <aside className="rail" aria-label={label} ref={context?.setTarget} />;
}

/** Content for the rail, from anywhere below the layout. */
export function Rail({ children }: { children: ReactNode }) {
  const context = useContext(RailContext);
  return context?.target ? createPortal(children, context.target) : null;
}
