// The dashboard's daily chart, drawn from the data the page's table shows (an enhancement: the
// table is the page's content; without this script nothing is lost).
document.addEventListener("DOMContentLoaded", () => {
  const data = document.getElementById("daily-series");
  const canvas = document.getElementById("daily-chart");
  if (!data || !canvas || typeof Chart === "undefined") return;
  const series = JSON.parse(data.textContent);
  const stages = [
    ["attempted", "Attempted", "#64748b"],
    ["sent", "Sent", "#2563eb"],
    ["delivered", "Delivered", "#0891b2"],
    ["read", "Read", "#16a34a"],
    ["conversations_created", "Conversations", "#c2410c"],
  ];
  new Chart(canvas, {
    type: "line",
    data: {
      labels: series.map((point) => point.day),
      datasets: stages.map(([key, label, color]) => ({
        label,
        data: series.map((point) => point[key]),
        borderColor: color,
        backgroundColor: color,
        tension: 0.2,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
});
