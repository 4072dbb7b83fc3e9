// A store fed one message at a time and updated once per batch: messages
// that arrive in one network read are applied together a microtask later,
// so a burst (message deltas, a replayed feed) is one state change, not one
// per message.
import { createStore, type StoreApi } from "zustand/vanilla";

export interface BatchedStore<S, M> {
  store: StoreApi<S>;
  /** Queue a message; applied with the rest of its batch. */
  push(message: M): void;
  /** Apply queued messages now. */
  flush(): void;
}

export function createBatchedStore<S, M>(initial: S, apply: (state: S, batch: M[]) => S): BatchedStore<S, M> {
  const store = createStore<S>(() => initial);
  let queue: M[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    store.setState(apply(store.getState(), batch), true);
  };
  return {
    store,
    flush,
    push(message) {
      queue.push(message);
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    },
  };
}
