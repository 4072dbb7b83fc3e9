export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <span role="status" className="spinner">
      <span className="spinner__wheel" aria-hidden="true" />
      <span className="visually-hidden">{label}</span>
    </span>
  );
}
