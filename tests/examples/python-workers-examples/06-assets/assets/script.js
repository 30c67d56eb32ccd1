console.log('Hello from Python Worker!');
document.addEventListener('DOMContentLoaded', function() {
    document.body.style.transition = 'all 0.3s ease';
});
