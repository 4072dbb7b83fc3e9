// Public API of the human-loop feature.
export { InboxPage } from "./components/InboxPage";
export { InboxCount } from "./components/InboxCount";
export { HumanLoopCard } from "./components/HumanLoopCard";
export { TodosPanel } from "./components/TodosPanel";
