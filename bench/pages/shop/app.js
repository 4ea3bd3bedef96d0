// Northwind Outfitters' site script: what a marketing page typically runs after parsing (a
// framework's hydration stand-in: a fixed amount of work, so it takes longer when the CPU is
// shared), the cart badge, the mega menu, filter chips and a testimonial carousel.
(() => {
  'use strict';
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

  function hydrate() {
    // Build, serialise and sort a product catalogue, as a client-side store does at boot.
    const catalogue = [];
    for (let i = 0; i < 60000; i++) {
      catalogue.push({ sku: 'NW-' + i, price: Math.round(random() * 40000) / 100,
        tags: ['trail', 'camp', 'city'].filter(() => random() > 0.5), rating: random() * 5 });
    }
    const copy = JSON.parse(JSON.stringify(catalogue));
    copy.sort((a, b) => a.price - b.price || b.rating - a.rating);
    window.__catalogueSize = copy.length;
  }

  function wire() {
    const count = document.getElementById('cart-count');
    let items = Number(localStorage.getItem('nw-cart') || 0);
    count.textContent = String(items);
    document.querySelectorAll('.add').forEach((button) => {
      button.addEventListener('click', () => {
        items += 1;
        localStorage.setItem('nw-cart', String(items));
        count.textContent = String(items);
      });
    });
    document.querySelectorAll('.mega-item').forEach((item) => {
      item.addEventListener('focusin', () => item.classList.add('open'));
      item.addEventListener('focusout', () => item.classList.remove('open'));
    });
    document.querySelectorAll('.chip').forEach((chip) => {
      chip.addEventListener('click', () => {
        document.querySelectorAll('.chip').forEach((c) => c.classList.toggle('active', c === chip));
      });
    });
    const carousel = document.querySelector('.carousel');
    if (carousel) {
      setInterval(() => {
        carousel.scrollBy({ left: carousel.clientWidth / 3, behavior: 'smooth' });
      }, 5000);
    }
  }

  hydrate();
  wire();
})();
