// Public API of the alerts feature.
export { AlertsPage } from "./components/AlertsPage";
export { AlertsCount } from "./components/AlertsCount";
