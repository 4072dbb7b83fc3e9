// Public API of the runs feature.
export { RunsPage } from "./components/RunsPage";
export { RunPage } from "./components/RunPage";
