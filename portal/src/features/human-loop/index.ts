// Public API of the human-loop feature.
export { InboxPage } from "./components/InboxPage";
export { InboxCount } from "./components/InboxCount";
export { HumanLoopCard, HumanLoopRequestCard } from "./components/HumanLoopCard";
export { TodosPanel } from "./components/TodosPanel";
export { useHumanLoopFeed, useHumanLoopFeedConnection, usePendingCount } from "./feed/useHumanLoopFeed";
export { usePendingRequests } from "./api/pending";
