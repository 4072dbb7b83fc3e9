// Public API of the files feature.
export { WorkspacesPage } from "./components/WorkspacesPage";
export { WorkspacePage } from "./components/WorkspacePage";
export { RunFilesPanel, type RunFilesPanelProps } from "./components/RunFilesPanel";
